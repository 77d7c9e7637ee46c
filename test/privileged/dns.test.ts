import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { NETTOOL, outside, testHost, type TestHost } from '../helpers/host.js';
import { eventually } from '../helpers/reach.js';
import { dropNetns, isRoot, testName } from '../helpers/scratch.js';

/** A query from a one-shot container on `net` to `server`: "RCODE answers...". */
const dig = async (h: TestHost, net: string, name: string, type: string, server: string, tcp = false) =>
  (await h.tsnet('run', '--network', net, '--', 'node', NETTOOL, 'dns', name, type, server, ...(tcp ? ['tcp'] : []))).stdout.trim();

describe.skipIf(!isRoot)('embedded DNS (root)', () => {
  it('names resolve within a network (name, alias, name.network, short ID, PTR), not across networks, not on the default bridge; the rest is forwarded upstream, over TCP when large', async () => {
    const resolv = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-dns-')), 'resolv.conf');
    fs.writeFileSync(resolv, 'nameserver 198.51.100.2\n');
    const h = await testHost('dns', { TSNET_RESOLV_CONF: resolv });
    const out = await outside(h);
    await out.exec(['sh', '-c', `node ${NETTOOL} serve-dns 198.51.100.2 >/dev/null 2>&1 &`]);
    expect((await h.tsnet('create', 'secure-network')).code).toBe(0);
    expect((await h.tsnet('network', 'create', 'payments')).code).toBe(0);
    expect((await h.tsnet('run', '-d', '--network', 'secure-network', '--name', 'backend', '--alias', 'db', '--', 'sleep', '120')).code).toBe(0);
    expect((await h.tsnet('run', '-d', '--network', 'payments', '--name', 'payment', '--', 'sleep', '120')).code).toBe(0);
    expect((await h.tsnet('run', '-d', '--name', 'legacy', '--', 'sleep', '120')).code).toBe(0); // default bridge
    const ps = await h.json<{ name: string; id: string; addresses: string[] }[]>('ps');
    const backend = ps.find((c) => c.name === 'backend')!;
    const ip = backend.addresses[0]!.split(':')[1]!.split('/')[0]!;

    const resolvConf = await h.tsnet('run', '--network', 'secure-network', '--', 'cat', '/etc/resolv.conf');
    expect(resolvConf.stdout).toContain('nameserver 172.18.0.1');
    expect(await dig(h, 'secure-network', 'backend', 'A', '172.18.0.1')).toBe(`NOERROR ${ip}`);
    expect(await dig(h, 'secure-network', 'db', 'A', '172.18.0.1')).toBe(`NOERROR ${ip}`);
    expect(await dig(h, 'secure-network', 'BACKEND.secure-network', 'A', '172.18.0.1')).toBe(`NOERROR ${ip}`);
    expect(await dig(h, 'secure-network', backend.id, 'A', '172.18.0.1')).toBe(`NOERROR ${ip}`);
    expect(await dig(h, 'secure-network', `${ip.split('.').reverse().join('.')}.in-addr.arpa`, 'PTR', '172.18.0.1')).toBe('NOERROR backend');
    // Scoped: payments' resolver does not know backend (the upstream answers NXDOMAIN).
    expect(await dig(h, 'payments', 'backend', 'A', '172.19.0.1')).toBe('NXDOMAIN');
    // Default bridge: no resolver on its gateway, and the host's resolv.conf inside.
    expect((await h.tsnet('run', '--', 'node', NETTOOL, 'dns', 'legacy', 'A', '172.17.0.1')).code).not.toBe(0);
    expect((await h.tsnet('run', '--', 'cat', '/etc/resolv.conf')).stdout).not.toContain('172.17.0.1');
    // Forwarding, and TCP fallback for an answer too large for UDP.
    expect(await dig(h, 'secure-network', 'example.test', 'A', '172.18.0.1')).toBe('NOERROR 192.0.2.7');
    const big = await h.tsnet('run', '--network', 'secure-network', '--', 'node', NETTOOL, 'dns', 'big.test', 'TXT', '172.18.0.1');
    expect(big.stdout.trim()).toBe('NOERROR TXT(4000)');
    expect(big.stderr).toContain('via tcp');
    fs.rmSync(path.dirname(resolv), { recursive: true, force: true });
  });

  it('records follow connect/disconnect; a killed resolver is restarted by the next command; it stops when nothing needs it', async () => {
    // No upstream at all: unknown names get SERVFAIL and nothing leaves the test's namespaces.
    // A short grace period: the resolver outlives its last name by this long (default 30 s).
    const h = await testHost('dns2', { TSNET_RESOLV_CONF: '/dev/null', TSNET_DNS_LINGER_MS: '300' });
    expect((await h.tsnet('network', 'create', 'apps')).code).toBe(0);
    expect((await h.tsnet('dns', 'status')).stdout).toContain('not running');
    const target = testName('d');
    const other = testName('e');
    await run(['ip', 'netns', 'add', target]);
    await run(['ip', 'netns', 'add', other]);
    try {
      expect((await h.tsnet('network', 'connect', '--alias', 'cache', 'apps', `/run/netns/${target}`)).code).toBe(0);
      const st = await h.json<{ running: boolean; pid: number; zones: { network: string; names: number }[] }>('dns', 'status');
      expect(st.running).toBe(true);
      expect(st.zones).toEqual([expect.objectContaining({ network: 'apps' })]);
      expect(await dig(h, 'apps', 'cache', 'A', '172.18.0.1')).toMatch(/^NOERROR 172\.18\.0\.\d+$/u);

      process.kill(st.pid, 'SIGKILL');
      await eventually(() => h.tsnet('dns', 'status').then((r) => ({ ...r, code: r.stdout.includes('not running') ? 0 : 1 })));
      expect((await h.tsnet('network', 'ls')).code).toBe(0); // any command brings it back
      const back = await h.json<{ running: boolean; pid: number }>('dns', 'status');
      expect(back.running).toBe(true);
      expect(back.pid).not.toBe(st.pid);
      expect(await dig(h, 'apps', 'cache', 'A', '172.18.0.1')).toMatch(/^NOERROR 172\.18\.0\.\d+$/u);

      expect((await h.tsnet('network', 'connect', '--alias', 'web', 'apps', `/run/netns/${other}`)).code).toBe(0);
      expect((await h.tsnet('network', 'disconnect', 'apps', `/run/netns/${target}`)).code).toBe(0);
      expect(await dig(h, 'apps', 'cache', 'A', '172.18.0.1')).toBe('SERVFAIL');
      expect(await dig(h, 'apps', 'web', 'A', '172.18.0.1')).toMatch(/^NOERROR 172\.18\.0\.\d+$/u);
      expect((await h.tsnet('network', 'disconnect', 'apps', `/run/netns/${other}`)).code).toBe(0);
      // The command that removed the last name returns once the resolver has dropped it (it may
      // linger, serving nothing, or be gone already): no name is served after it.
      const emptied = await h.json<{ running: boolean; zones?: { names: number }[] }>('dns', 'status');
      expect((emptied.zones ?? []).filter((z) => z.names > 0)).toEqual([]);
      const after = await eventually(() => h.tsnet('dns', 'status').then((r) => ({ ...r, code: r.stdout.includes('not running') ? 0 : 1 })));
      expect(after.stdout).toContain('not running'); // no endpoint left: the resolver exits
    } finally {
      await dropNetns(target);
      await dropNetns(other);
    }
  });
});
