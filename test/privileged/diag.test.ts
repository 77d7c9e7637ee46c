import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { NETNS_PREFIX, NETTOOL, testHost, type TestHost } from '../helpers/host.js';
import { eventually } from '../helpers/reach.js';
import { isRoot } from '../helpers/scratch.js';

interface Finding { check: string; subject: string; ok: boolean; message: string; fix?: string }
interface Ps { name: string; id: string }

const doctor = async (h: TestHost, ...args: string[]) => {
  const r = await h.tsnet('--format', 'json', 'doctor', ...args);
  return { code: r.code, findings: JSON.parse(r.stdout) as Finding[] };
};
const failed = (f: Finding[], check: string) => f.filter((x) => x.check === check && !x.ok);

async function setup(h: TestHost) {
  expect((await h.tsnet('create', 'web')).code).toBe(0);
  expect((await h.tsnet('network', 'create', 'other')).code).toBe(0);
  expect((await h.tsnet('run', '-d', '--network', 'web', '--name', 'c1', '-p', '8090:80', '--', 'sleep', '120')).code).toBe(0);
  expect((await h.tsnet('run', '-d', '--network', 'other', '--name', 'c2', '--', 'sleep', '120')).code).toBe(0);
  const net = (await h.json<{ device: string; containers: { hostIfname: string; netns: string; name: string }[] }[]>('network', 'inspect', 'web'))[0]!;
  return { bridge: net.device, veth: net.containers[0]!.hostIfname, c1ns: path.basename(net.containers[0]!.netns) };
}

describe.skipIf(!isRoot)('troubleshooting (root)', () => {
  it('doctor: a healthy setup passes; each fault made on purpose is found and explained; --fix repairs what tsnet owns', async () => {
    const h = await testHost('doc', { TSNET_RESOLV_CONF: '/dev/null' });
    const { bridge, veth, c1ns } = await setup(h);
    const healthy = await doctor(h);
    expect(healthy.findings.filter((f) => !f.ok)).toEqual([]);
    expect(healthy.code).toBe(0);

    await h.exec(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
    await run(['ip', '-n', h.ns, 'link', 'set', veth, 'nomaster']);
    await run(['ip', '-n', c1ns, 'route', 'del', 'default']);
    await h.exec(['nft', 'delete', 'table', 'inet', 'tsnet']);
    await h.exec(['iptables', '-P', 'FORWARD', 'DROP']);
    await h.exec(['sh', '-c', `node ${NETTOOL} serve-tcp 8090 squatter >/dev/null 2>&1 &`]);
    await eventually(() => h.exec(['node', NETTOOL, 'tcp', '::1', '8090'], false));
    await run(['ip', '-n', h.ns, 'route', 'add', '172.18.128.0/24', 'dev', 'lo']);
    const leaseDir = path.join(h.stateDir, 'ipam', 'web');
    fs.writeFileSync(path.join(leaseDir, '172.18.0.99'), 'ghost\r\neth0');
    const c2 = (await h.json<Ps[]>('ps')).find((c) => c.name === 'c2')!;
    await run(['ip', 'netns', 'del', `${NETNS_PREFIX}${c2.id}`]);
    await run(['ip', '-n', h.ns, 'link', 'set', bridge, 'down']);
    // Last, since any tsnet command (even `ps`) restarts a dead resolver.
    const dns = await h.json<{ pid: number }>('dns', 'status');
    process.kill(dns.pid, 'SIGKILL');
    await eventually(() => h.tsnet('dns', 'status').then((r) => ({ ...r, code: r.stdout.includes('not running') ? 0 : 1 })));

    const sick = await doctor(h);
    expect(sick.code).toBe(1);
    const f = sick.findings;
    expect(failed(f, 'ip-forward')[0]?.message).toMatch(/net.ipv4.ip_forward is 0/);
    expect(failed(f, 'bridge')).toEqual([expect.objectContaining({ subject: 'web', message: `bridge ${bridge} of network web is down`, fix: `ip link set ${bridge} up` })]);
    expect(failed(f, 'endpoint').map((x) => x.message)).toEqual(expect.arrayContaining([
      `host interface ${veth} is not attached to bridge ${bridge}`,
      'c1 has no default route',
      expect.stringMatching(/^the namespace of c2 .* is gone: stale state$/),
    ]));
    expect(failed(f, 'firewall')[0]?.message).toMatch(/rules are missing/);
    expect(failed(f, 'forward-policy')[0]?.message).toMatch(/FORWARD policy is DROP .* not there/);
    expect(failed(f, 'port')[0]?.message).toMatch(/host port 8090\/tcp, published for c1, is also held by node \(pid \d+\)/);
    expect(failed(f, 'overlap')[0]?.message).toMatch(/subnet 172.18.0.0\/16 of web overlaps host route 172.18.128.0\/24 dev lo/);
    expect(failed(f, 'dns')[0]?.message).toMatch(/resolver of .*web.* is not running/);
    expect(failed(f, 'lease')[0]?.message).toMatch(/address 172.18.0.99 of web is leased to ghost\/eth0, which has no endpoint/);
    for (const x of f.filter((y) => !y.ok)) expect(x.fix).toBeTruthy();

    const fixed = await doctor(h, '--fix');
    expect(fixed.code).toBe(1); // what tsnet does not own is still reported
    for (const check of ['firewall', 'forward-policy', 'lease', 'dns']) expect(failed(fixed.findings, check)).toEqual([]);
    expect((await h.exec(['nft', 'list', 'table', 'inet', 'tsnet'])).code).toBe(0);
    expect(fs.existsSync(path.join(leaseDir, '172.18.0.99'))).toBe(false);
    expect(failed(fixed.findings, 'bridge')).toHaveLength(1);
  });

  it('ping explains failures; inspect shows a container; nsenter runs inside it', async () => {
    const h = await testHost('png', { TSNET_RESOLV_CONF: '/dev/null' });
    await setup(h);
    const ok = await h.tsnet('ping', 'c1', 'c1', '-c', '1');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/c1 -> c1 \(172\.18\.0\.2\): reachable/);
    const byName = await h.tsnet('ping', 'c2', 'c1', '-c', '1');
    expect(byName.code).toBe(1);
    expect(byName.stdout).toContain('why: c1 is on network web, c2 is on other: names resolve only within a network');
    const byIp = await h.tsnet('ping', 'c2', '172.18.0.2', '-c', '1');
    expect(byIp.stdout).toContain('why: 172.18.0.2 is c1 on network web; c2 is on other: tsnet isolates networks');
    expect((await h.tsnet('ping', 'c1', 'nosuch', '-c', '1')).stdout).toContain("why: the name nosuch is not known on c1's networks (web)");

    const info = await h.json<{ kind: string; networks: { network: string; ports: string[] }[]; interfaces: { name: string; addresses: string[] }[]; routes: { dst: string; via?: string }[]; hostSide: { bridge: string; up: boolean }[]; dns: string; firewall: string[] }>('inspect', 'c1');
    expect(info.kind).toBe('container');
    expect(info.networks).toEqual([expect.objectContaining({ network: 'web', ports: ['0.0.0.0:8090->80/tcp'] })]);
    expect(info.interfaces.find((i) => i.name === 'eth0')?.addresses).toContain('172.18.0.2/16');
    expect(info.routes).toContainEqual(expect.objectContaining({ dst: 'default', via: '172.18.0.1' }));
    expect(info.hostSide[0]).toMatchObject({ up: true, bridge: expect.stringMatching(/^br-/) });
    expect(info.dns).toContain('nameserver 172.18.0.1');
    expect(info.firewall.join('\n')).toContain('dnat ip to 172.18.0.2:80');
    const net = await h.json<{ kind: string; deviceState: { up: boolean } }>('inspect', 'web');
    expect(net).toMatchObject({ kind: 'network', deviceState: { up: true } });

    const inside = await h.tsnet('nsenter', 'c1', '--', 'ip', '-j', 'addr', 'show', 'eth0');
    expect(inside.code).toBe(0);
    expect(inside.stdout).toContain('"local":"172.18.0.2"');
    expect((await h.tsnet('nsenter', 'c1', '--', 'false')).code).toBe(1);
    expect((await h.tsnet('inspect', 'nobody')).code).toBe(4);
  });
});
