import { describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { NETTOOL, outside, testHost, type TestHost } from '../helpers/host.js';
import { eventually } from '../helpers/reach.js';
import { isRoot } from '../helpers/scratch.js';

interface Ps {
  name: string;
  addresses: string[];
}

const ipOf = async (h: TestHost, name: string, net: string): Promise<string> => {
  const c = (await h.json<Ps[]>('ps')).find((x) => x.name === name)!;
  return c.addresses.find((a) => a.startsWith(`${net}:`))!.split(':')[1]!.split('/')[0]!;
};

/** A one-shot container on `net` running argv; resolves with its exit code and output. */
const from = (h: TestHost, net: string, ...argv: string[]) => h.tsnet('run', '--network', net, '--', ...argv);

describe.skipIf(!isRoot).each(['nftables', 'iptables'] as const)('the seeds scenario with the %s firewall (root)', (driver) => {
  it('frontend and backend talk, payment cannot reach them either way, a published port answers from the host, 127.0.0.1, outside and hairpin', async () => {
    const h = await testHost('scn');
    const out = await outside(h);
    expect((await h.tsnet('--firewall-driver', driver, 'create', 'secure-network')).code).toBe(0);
    expect((await h.tsnet('network', 'create', 'payments')).code).toBe(0);
    expect((await h.tsnet('run', '-d', '--network', 'secure-network', '--name', 'backend', '-p', '8080:80', '--', 'node', NETTOOL, 'serve-tcp', '80', 'hello-backend')).code).toBe(0);
    expect((await h.tsnet('run', '-d', '--network', 'payments', '--name', 'payment', '--', 'node', NETTOOL, 'serve-tcp', '80', 'hello-payment')).code).toBe(0);
    const backend = await ipOf(h, 'backend', 'secure-network');
    const payment = await ipOf(h, 'payment', 'payments');

    // Within secure-network: TCP and ICMP.
    const tcp = await eventually(() => from(h, 'secure-network', 'node', NETTOOL, 'tcp', backend, '80'));
    expect(tcp.stdout).toBe('hello-backend\n');
    expect((await from(h, 'secure-network', 'ping', '-c', '1', '-W', '1', backend)).code).toBe(0);
    // The payment server is up (reachable on its own network) ...
    expect((await eventually(() => from(h, 'payments', 'node', NETTOOL, 'tcp', payment, '80'))).stdout).toBe('hello-payment\n');
    // ... yet neither network reaches the other, by TCP or ICMP.
    expect((await from(h, 'payments', 'node', NETTOOL, 'tcp', backend, '80')).code).not.toBe(0);
    expect((await from(h, 'payments', 'ping', '-c', '1', '-W', '1', backend)).code).not.toBe(0);
    expect((await from(h, 'secure-network', 'node', NETTOOL, 'tcp', payment, '80')).code).not.toBe(0);
    expect((await from(h, 'secure-network', 'ping', '-c', '1', '-W', '1', payment)).code).not.toBe(0);

    // Published port: from the host itself (127.0.0.1 and its own address), from outside, and hairpin.
    expect((await h.exec(['node', NETTOOL, 'tcp', '127.0.0.1', '8080'])).stdout).toBe('hello-backend\n');
    expect((await h.exec(['node', NETTOOL, 'tcp', out.hostAddr, '8080'])).stdout).toBe('hello-backend\n');
    expect((await out.exec(['node', NETTOOL, 'tcp', out.hostAddr, '8080'])).stdout).toBe('hello-backend\n');
    expect((await from(h, 'secure-network', 'node', NETTOOL, 'tcp', out.hostAddr, '8080')).stdout).toBe('hello-backend\n');

    // The rules are in the kernel where the driver puts them (independent observer).
    if (driver === 'nftables') {
      const nft = (await h.exec(['nft', 'list', 'table', 'inet', 'tsnet'])).stdout;
      expect(nft).toContain(`tcp dport 8080 dnat ip to ${backend}:80`);
      expect((await h.exec(['iptables-save'])).stdout).not.toContain('TSNET-PREROUTING');
    } else {
      const ipt = (await h.exec(['iptables-save'])).stdout;
      expect(ipt).toContain(`--dport 8080 -j DNAT --to-destination ${backend}:80`);
      expect(ipt).toContain('-A FORWARD -j TSNET-FORWARD');
      expect((await h.exec(['nft', 'list', 'tables'])).stdout).not.toContain('inet tsnet');
    }

    // Teardown leaves nothing: no container, no link but lo and the uplink, no tsnet rule, no lease.
    expect((await h.tsnet('rm', '-f', 'backend', 'payment')).code).toBe(0);
    expect((await h.tsnet('network', 'rm', 'secure-network', 'payments')).code).toBe(0);
    const links = JSON.parse((await run(['ip', '-n', h.ns, '-j', 'link'])).stdout) as { ifname: string }[];
    expect(links.map((l) => l.ifname).sort()).toEqual(['lo', 'uplink0']);
    expect((await h.exec(['nft', 'list', 'tables'])).stdout).not.toContain('tsnet');
    expect((await h.exec(['iptables-save'])).stdout).not.toContain('TSNET');
    expect(await h.json<unknown[]>('ps')).toEqual([]);
  });

  it('outbound NAT shows the host address outside; --internal has no egress; UDP ports publish', async () => {
    const h = await testHost('nat');
    const out = await outside(h);
    await out.exec(['sh', '-c', `node ${NETTOOL} whoami-tcp 7000 >/dev/null 2>&1 &`]);
    expect((await h.tsnet('--firewall-driver', driver, 'network', 'create', 'public')).code).toBe(0);
    expect((await h.tsnet('network', 'create', '--internal', 'private')).code).toBe(0);
    const seen = await eventually(() => from(h, 'public', 'node', NETTOOL, 'tcp', out.addr, '7000'));
    expect(seen.stdout).toBe(`${out.hostAddr}\n`);
    expect((await from(h, 'private', 'node', NETTOOL, 'tcp', out.addr, '7000')).code).not.toBe(0);
    const routes = await from(h, 'private', 'ip', '-j', 'route');
    expect(JSON.parse(routes.stdout)).not.toContainEqual(expect.objectContaining({ dst: 'default' }));

    expect((await h.tsnet('run', '-d', '--network', 'public', '--name', 'dns', '-p', '5353:53/udp', '--', 'node', NETTOOL, 'serve-udp', '53')).code).toBe(0);
    expect((await eventually(() => out.exec(['node', NETTOOL, 'udp', out.hostAddr, '5353', 'q1'], false))).stdout).toBe('echo:q1\n');
    expect((await h.exec(['node', NETTOOL, 'udp', '127.0.0.1', '5353', 'q2'])).stdout).toBe('echo:q2\n');
  });

  it('works where the FORWARD policy is DROP, as Docker sets it', async () => {
    const h = await testHost('drop');
    const out = await outside(h);
    await h.exec(['iptables', '-P', 'FORWARD', 'DROP']);
    await out.exec(['sh', '-c', `node ${NETTOOL} whoami-tcp 7001 >/dev/null 2>&1 &`]);
    expect((await h.tsnet('--firewall-driver', driver, 'network', 'create', 'web')).code).toBe(0);
    expect((await h.tsnet('run', '-d', '--network', 'web', '--name', 'srv', '-p', '8081:80', '--', 'node', NETTOOL, 'serve-tcp', '80', 'hi')).code).toBe(0);
    expect((await eventually(() => from(h, 'web', 'node', NETTOOL, 'tcp', out.addr, '7001'))).stdout).toBe(`${out.hostAddr}\n`);
    expect((await eventually(() => out.exec(['node', NETTOOL, 'tcp', out.hostAddr, '8081'], false))).stdout).toBe('hi\n');
    expect((await h.exec(['iptables', '-S', 'FORWARD'])).stdout).toMatch(/-P FORWARD DROP[\s\S]*-A FORWARD -j TSNET-FORWARD/);
  });
});
