import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { NETTOOL, testHost, type TestHost } from '../helpers/host.js';
import { eventually } from '../helpers/reach.js';
import { dropNetns, isRoot, kernelHasLinkKind, testName } from '../helpers/scratch.js';

const hasIpvlan = await kernelHasLinkKind('ipvlan');

/** Everything observable that a failed command must leave unchanged. */
async function snapshot(h: TestHost) {
  const files = (dir: string): string[] =>
    fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => !f.endsWith('lock')).sort() : [];
  return {
    state: files(h.stateDir),
    links: (JSON.parse((await run(['ip', '-n', h.ns, '-j', 'link'])).stdout) as { ifname: string }[]).map((l) => l.ifname).sort(),
    nft: (await h.exec(['nft', 'list', 'ruleset'])).stdout,
  };
}

describe.skipIf(!isRoot)('tsnet network CLI (root)', () => {
  it('bad input gets a clear error, a stable exit code and no partial state', async () => {
    const h = await testHost('bad');
    expect((await h.tsnet('network', 'create', '--subnet', '10.88.0.0/16', 'taken')).code).toBe(0);
    expect((await h.tsnet('run', '-d', '--network', 'taken', '--name', 'busy', '--', 'sleep', '60')).code).toBe(0);
    await h.exec(['sh', '-c', `node ${NETTOOL} serve-tcp 9090 x >/dev/null 2>&1 &`]);
    await eventually(() => h.exec(['node', NETTOOL, 'tcp', '127.0.0.1', '9090'], false));
    const before = await snapshot(h);
    const cases: [string[], number, RegExp][] = [
      [['network', 'create', 'a/b'], 2, /INVALID_NAME: invalid network name "a\/b": contains "\/"/],
      [['network', 'create', 'a..b'], 2, /INVALID_NAME: .*contains "\.\."/],
      [['network', 'create', 'x'.repeat(65)], 2, /INVALID_NAME: .*65 characters, at most 64/],
      [['network', 'create', 'taken'], 3, /ALREADY_EXISTS: network taken already exists/],
      [['network', 'create', 'bridge'], 3, /ALREADY_EXISTS: network bridge already exists/],
      [['network', 'create', '-d', 'overlay9', 'n1'], 2, /INVALID_ARGUMENT: unknown driver "overlay9": one of bridge, host, none, macvlan, ipvlan/],
      [['network', 'create', '-d', 'host', 'n1'], 2, /only one instance of the host network/],
      [['network', 'create', '--subnet', '10.88.128.0/17', 'n1'], 3, /SUBNET_OVERLAP: subnet 10.88.128.0\/17 overlaps network taken \(10.88.0.0\/16\)/],
      [['network', 'create', '--subnet', '10.89.0.0/16', '--gateway', '10.90.0.1', 'n1'], 2, /gateway 10.90.0.1 is outside subnet 10.89.0.0\/16/],
      [['network', 'create', '--subnet', '10.89.0.1/16', 'n1'], 2, /host bits are set/],
      [['network', 'create', '-o', 'color=blue', 'n1'], 2, /unknown option "color" for the bridge driver/],
      [['network', 'create', '-d', 'macvlan', 'n1'], 2, /the macvlan driver needs -o parent=IFACE/],
      [['network', 'create', '-d', 'macvlan', '-o', 'parent=nope0', '--subnet', '10.91.0.0/24', 'n1'], 4, /NOT_FOUND: parent interface nope0 not found/],
      [['network', 'rm', 'taken'], 3, /IN_USE: network taken has 1 attached endpoint\(s\): busy; disconnect them or use --force/],
      [['network', 'rm', 'host'], 2, /host is a built-in network and cannot be removed/],
      [['network', 'rm', 'ghost'], 4, /NOT_FOUND: network ghost not found/],
      [['run', '--network', 'taken', '-p', '80:80:80:80', '--', 'true'], 2, /invalid -p "80:80:80:80"/],
      [['run', '--network', 'taken', '-p', '70000:80', '--', 'true'], 2, /port 70000 out of range 1-65535/],
      [['run', '--network', 'taken', '-p', '8000-8002:80', '--', 'true'], 2, /differ in size/],
      [['run', '--network', 'taken', '-p', '80/sctp', '--', 'true'], 2, /invalid protocol "sctp"/],
      [['run', '--network', 'taken', '-p', '9090:80', '--', 'true'], 3, /PORT_IN_USE: host port 9090\/tcp is already in use by node \(pid \d+\)/],
      [['run', '--network', 'taken', '--name', 'busy', '--', 'true'], 3, /ALREADY_EXISTS: container busy already exists/],
      [['run', '--network', 'taken', '--ip', '10.77.0.5', '--', 'true'], 2, /requested address 10.77.0.5 is outside every range of network taken/],
      [['run', '--network', 'ghost', '--', 'true'], 4, /NOT_FOUND: network ghost not found/],
      [['run', '--network', 'taken', '--', 'no-such-program-xyz'], 5, /EXEC_FAILED: cannot start no-such-program-xyz/],
      [['network', 'connect', 'taken', 'nobody-here'], 4, /NOT_FOUND: no tsnet container, Docker container, PID or netns path named "nobody-here"/],
      [['network', 'connect', 'taken', 'busy'], 3, /ALREADY_EXISTS: endpoint: container busy is already connected to network taken/],
      [['network', 'disconnect', 'bridge', 'busy'], 4, /is not connected to network bridge/],
      [['rm', 'busy'], 3, /IN_USE: container busy is running: stop it first or use -f/],
      [['network', 'nonsense'], 2, /Unknown argument|Unknown command|name a network command/],
    ];
    for (const [args, code, message] of cases) {
      const r = await h.tsnet(...args);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code, stderr: expect.stringMatching(message) });
    }
    expect(await snapshot(h)).toEqual(before);
  });

  it('a port published by another container is refused naming it', async () => {
    const h = await testHost('port');
    expect((await h.tsnet('network', 'create', 'web')).code).toBe(0);
    expect((await h.tsnet('run', '-d', '--network', 'web', '--name', 'one', '-p', '127.0.0.1:8088:80', '--', 'sleep', '60')).code).toBe(0);
    const r = await h.tsnet('run', '-d', '--network', 'web', '--name', 'two', '-p', '8088:80', '--', 'sleep', '60');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/PORT_IN_USE: host port 8088\/tcp is already published by container one \(127.0.0.1:8088->80\/tcp\)/);
    // Another host address or protocol is fine; a random port is picked from the ephemeral range.
    expect((await h.tsnet('run', '-d', '--network', 'web', '--name', 'three', '-p', '8088:80/udp', '-p', '81', '--', 'sleep', '60')).code).toBe(0);
    const three = (await h.json<{ name: string; ports: string[] }[]>('ps')).find((c) => c.name === 'three')!;
    expect(three.ports[0]).toBe('0.0.0.0:8088->80/udp');
    expect(Number(/:(\d+)->81\/tcp/u.exec(three.ports[1]!)![1])).toBeGreaterThanOrEqual(32768);
  });

  it('the default bridge network: tsnet0 on 172.17.0.0/16 with gateway .1, created on first use', async () => {
    const h = await testHost('dflt');
    const ls = await h.json<{ name: string; id: string }[]>('network', 'ls');
    expect(ls.map((n) => n.name)).toEqual(['bridge', 'host', 'none']);
    expect((await h.tsnet('run', '-d', '--name', 'c1', '--', 'sleep', '60')).code).toBe(0);
    const net = (await h.json<{ device: string; subnets: { subnet: string; gateway: string }[]; containers: { addresses: string[] }[] }[]>('network', 'inspect', 'bridge'))[0]!;
    expect(net.device).toBe('tsnet0');
    expect(net.subnets).toEqual([{ subnet: '172.17.0.0/16', gateway: '172.17.0.1' }]);
    expect(net.containers[0]!.addresses).toEqual(['172.17.0.2/16']);
    const addr = JSON.parse((await run(['ip', '-n', h.ns, '-j', 'addr', 'show', 'dev', 'tsnet0'])).stdout) as { addr_info: { local: string; prefixlen: number }[] }[];
    expect(addr[0]!.addr_info).toContainEqual(expect.objectContaining({ local: '172.17.0.1', prefixlen: 16 }));
  });

  it('the default bridge moves off 172.17.0.0/16 when the host uses it, and inspect says so', async () => {
    const h = await testHost('dock0');
    await run(['ip', '-n', h.ns, 'link', 'add', 'docker0', 'type', 'bridge']);
    await run(['ip', '-n', h.ns, 'addr', 'add', '172.17.0.1/16', 'dev', 'docker0']);
    await run(['ip', '-n', h.ns, 'link', 'set', 'docker0', 'up']);
    expect((await h.tsnet('run', '-d', '--name', 'c1', '--', 'sleep', '60')).code).toBe(0);
    const net = (await h.json<{ subnets: { subnet: string }[]; notes: string[] }[]>('network', 'inspect', 'bridge'))[0]!;
    expect(net.subnets[0]!.subnet).toBe('172.18.0.0/16');
    expect(net.notes.join(' ')).toMatch(/172.17.0.0\/16 overlaps host route 172.17.0.0\/16 dev docker0 .*using 172.18.0.0\/16/);
  });

  it('connect and disconnect a PID and a netns path; --ip, --alias, dual stack, inspect, prune', async () => {
    const h = await testHost('conn');
    expect((await h.tsnet('network', 'create', '--ipv6', '--subnet', '10.92.0.0/24', 'dual')).code).toBe(0);
    expect((await h.tsnet('network', 'create', 'spare')).code).toBe(0);
    const target = testName('x');
    await run(['ip', 'netns', 'add', target]);
    try {
      const ep = await h.json<{ ifname: string; leases: { cidr: string; family: number }[] }>('network', 'connect', '--ip', '10.92.0.50', '--alias', 'db', 'dual', `/run/netns/${target}`);
      expect(ep.ifname).toBe('eth0');
      expect(ep.leases.map((l) => l.cidr)[0]).toBe('10.92.0.50/24');
      expect(ep.leases[1]!.family).toBe(6);
      const inside = JSON.parse((await run(['ip', '-n', target, '-j', 'addr', 'show', 'dev', 'eth0'])).stdout) as { addr_info: { local: string }[] }[];
      expect(inside[0]!.addr_info.map((a) => a.local)).toEqual(expect.arrayContaining(['10.92.0.50', ep.leases[1]!.cidr.split('/')[0]]));
      const net = (await h.json<{ containers: { aliases: string[]; ifname: string }[] }[]>('network', 'inspect', 'dual'))[0]!;
      expect(net.containers).toEqual([expect.objectContaining({ aliases: ['db'], ifname: 'eth0' })]);
      // A PID target: a process living in the same namespace, second network gets eth1.
      await run(['ip', 'netns', 'exec', target, 'sh', '-c', 'sleep 60 >/dev/null 2>&1 &']);
      const pid = (await run(['ip', 'netns', 'pids', target])).stdout.trim().split('\n')[0]!;
      const ep2 = await h.json<{ ifname: string }>('network', 'connect', 'spare', pid);
      expect(ep2.ifname).toBe('eth1');
      expect((await h.tsnet('network', 'disconnect', 'spare', pid)).code).toBe(0);
      expect((await h.tsnet('network', 'disconnect', 'dual', `/run/netns/${target}`)).code).toBe(0);
      const links = JSON.parse((await run(['ip', '-n', target, '-j', 'link'])).stdout) as { ifname: string }[];
      expect(links.map((l) => l.ifname)).toEqual(['lo']);
      expect(fs.readdirSync(path.join(h.stateDir, 'ipam', 'dual')).filter((f) => /^\d|:/u.test(f))).toEqual([]);
      // A target that is gone is still disconnected by the name its endpoint records (no lookup).
      expect((await h.tsnet('network', 'connect', 'spare', `/run/netns/${target}`)).code).toBe(0);
      await dropNetns(target);
      expect((await h.tsnet('network', 'disconnect', 'spare', `/run/netns/${target}`)).code).toBe(0);
      expect((await h.json<{ containers: unknown[] }[]>('network', 'inspect', 'spare'))[0]!.containers).toEqual([]);
    } finally {
      await dropNetns(target);
    }
    expect(await h.json<string[]>('network', 'prune')).toEqual(['dual', 'spare']);
    expect((await h.json<{ name: string }[]>('network', 'ls')).map((n) => n.name)).toEqual(['bridge', 'host', 'none']);
  });

  it('macvlan on a parent link reaches the parent LAN; none has only loopback; host shares the host namespace', async () => {
    const h = await testHost('mvl');
    const lan = testName('lan');
    await run(['ip', 'netns', 'add', lan]);
    try {
      await run(['ip', '-n', h.ns, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lan]);
      await run(['ip', '-n', h.ns, 'link', 'set', 'lan0', 'up']);
      await run(['ip', '-n', lan, 'addr', 'add', '192.168.77.1/24', 'dev', 'eth0']);
      await run(['ip', '-n', lan, 'link', 'set', 'eth0', 'up']);
      const created = await h.tsnet('network', 'create', '-d', 'macvlan', '-o', 'parent=lan0', '-o', 'macvlan_mode=bridge', '--subnet', '192.168.77.0/24', '--gateway', '192.168.77.1', '--ip-range', '192.168.77.128/25', 'lan');
      expect(created.code).toBe(0);
      const r = await h.tsnet('run', '--network', 'lan', '--', 'sh', '-c', 'ip -j -d link show eth0; ip -j addr show eth0; ping -c 1 -W 2 192.168.77.1 >/dev/null && echo PING-OK');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('"info_kind":"macvlan"');
      expect(r.stdout).toContain(`"local":"192.168.77.128"`); // first address of the --ip-range, as Docker allocates
      expect(r.stdout).toContain('PING-OK');
    } finally {
      await dropNetns(lan);
    }
    const none = await h.tsnet('run', '--network', 'none', '--', 'ip', '-j', 'link');
    expect((JSON.parse(none.stdout) as { ifname: string; flags: string[] }[]).map((l) => [l.ifname, l.flags.includes('UP')])).toEqual([['lo', true]]);
    await run(['ip', '-n', h.ns, 'link', 'add', 'marker0', 'type', 'bridge']);
    const host = await h.tsnet('run', '--network', 'host', '--', 'ip', '-j', 'link');
    const seen = (JSON.parse(host.stdout) as { ifname: string }[]).map((l) => l.ifname);
    const hostLinks = (JSON.parse((await run(['ip', '-n', h.ns, '-j', 'link'])).stdout) as { ifname: string }[]).map((l) => l.ifname);
    expect(seen).toContain('marker0');
    expect(seen).toEqual(hostLinks);
  });

  it.skipIf(hasIpvlan)('ipvlan on a kernel without it: KERNEL_FEATURE_MISSING naming CONFIG_IPVLAN, nothing recorded', async () => {
    const h = await testHost('ivl');
    await run(['ip', '-n', h.ns, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1']);
    const r = await h.tsnet('network', 'create', '-d', 'ipvlan', '-o', 'parent=lan0', '-o', 'ipvlan_mode=l2', '--subnet', '192.168.78.0/24', 'ipv');
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/KERNEL_FEATURE_MISSING: the kernel does not support ipvlan links: build it with CONFIG_IPVLAN/);
    expect((await h.json<{ name: string }[]>('network', 'ls')).map((n) => n.name)).not.toContain('ipv');
  });

  it.skipIf(!hasIpvlan)('ipvlan l2 network reaches the parent LAN (needs CONFIG_IPVLAN; skipped where the kernel lacks it)', async () => {
    const h = await testHost('ivr');
    await run(['ip', '-n', h.ns, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1']);
    await run(['ip', '-n', h.ns, 'link', 'set', 'lan0', 'up']);
    await run(['ip', '-n', h.ns, 'link', 'set', 'lan1', 'up']);
    expect((await h.tsnet('network', 'create', '-d', 'ipvlan', '-o', 'parent=lan0', '--subnet', '192.168.78.0/24', 'ipv')).code).toBe(0);
    const r = await h.tsnet('run', '--network', 'ipv', '--', 'ip', '-j', '-d', 'link', 'show', 'eth0');
    expect(r.stdout).toContain('"info_kind":"ipvlan"');
  });
});
