import { describe, expect, it } from 'vitest';
import { NETTOOL, outside, testHost, type TestHost } from '../helpers/host.js';
import { eventually } from '../helpers/reach.js';
import { isRoot } from '../helpers/scratch.js';
import { type Out, both, neither, reachable } from '../helpers/fw-probe.js';

/**
 * tsnet's rules come back after someone flushes them: by hand (`tsnet firewall reload`) and by the
 * watcher (`tsnet firewall watch`, started on demand unless TSNET_FIREWALL_WATCH=0, as the suite sets it elsewhere). Every flush
 * runs inside the test's own host namespace; real packets are checked before and after: a
 * published port reached from an "outside" namespace (DNAT + forward) and the container pinging
 * outside, which has no route back to the container subnet (masquerade).
 */

async function setup(h: TestHost, driver: 'nftables' | 'iptables', subnet: string): Promise<Out> {
  const out = await outside(h);
  expect((await h.tsnet('--firewall-driver', driver, 'network', 'create', '--subnet', subnet, 'tfwnet')).code).toBe(0);
  const r = await h.tsnet('run', '-d', '--network', 'tfwnet', '--name', 'srv', '-p', '8080:80', '--', 'node', NETTOOL, 'serve-tcp', '80', 'hello-tfw');
  expect(r.stderr).toBe('');
  return out;
}

/**
 * Milliseconds from now until tsnet's rules are complete again (polling the kernel through
 * `tsnet firewall status`, ~50 ms a round), then both packet probes must pass. The rules' time is
 * what is asserted: a failing ping probe alone waits 1 s, which would measure the probe.
 */
async function recoveryMs(h: TestHost, out: Out, limitMs = 5000): Promise<number> {
  const t0 = Date.now();
  let ms: number | undefined;
  for (;;) {
    if (ms === undefined && (await h.tsnet('firewall', 'status')).code === 0) ms = Date.now() - t0;
    if (ms !== undefined) {
      const r = await reachable(h, out);
      if (r.port && r.egress) return ms;
    }
    if (Date.now() - t0 > limitMs) throw new Error(`not recovered after ${limitMs} ms (rules back after ${ms ?? '-'} ms)`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

const status = async (h: TestHost) => {
  const r = await h.tsnet('--format', 'json', 'firewall', 'status');
  return { code: r.code, s: JSON.parse(r.stdout) as { complete: boolean; problems: string[]; backend: string; iptables: { variant: string }; forwardPolicy?: string; watcher: { running: boolean } } };
};

describe.skipIf(!isRoot)('firewall recovery (root)', () => {
  it('tsnet firewall reload puts back what nft flush ruleset and iptables -F removed, idempotently, never changing the FORWARD policy', async () => {
    const h = await testHost('tfw', { TSNET_FIREWALL_WATCH: '0' });
    const out = await setup(h, 'nftables', '10.232.1.0/24');
    expect(await eventually(async () => ({ code: JSON.stringify(await reachable(h, out)) === JSON.stringify(both) ? 0 : 1, stdout: '', stderr: '' }))).toMatchObject({ code: 0 });
    const ok = await status(h);
    expect(ok).toMatchObject({ code: 0, s: { complete: true, backend: 'nftables', watcher: { running: false } } });
    expect(['nft', 'legacy']).toContain(ok.s.iptables.variant);

    await h.exec(['nft', 'flush', 'ruleset']);
    expect(await reachable(h, out)).toEqual(neither);
    const sick = await status(h);
    expect(sick.code).toBe(1);
    expect(sick.s.problems).toContain('table inet tsnet is missing');

    expect((await h.tsnet('firewall', 'reload')).code).toBe(0);
    expect(await reachable(h, out)).toEqual(both);
    const once = (await h.exec(['nft', 'list', 'table', 'inet', 'tsnet'])).stdout;
    expect((await h.tsnet('firewall', 'reload')).code).toBe(0);
    expect((await h.exec(['nft', 'list', 'table', 'inet', 'tsnet'])).stdout).toBe(once);

    // Docker's policy: the compat chain is what lets forwarded traffic through; iptables -F drops it.
    await h.exec(['iptables', '-P', 'FORWARD', 'DROP']);
    expect((await h.tsnet('firewall', 'reload')).code).toBe(0);
    expect(await reachable(h, out)).toEqual(both);
    await h.exec(['iptables', '-F']);
    expect((await reachable(h, out)).egress).toBe(false);
    expect((await status(h)).s.problems.join('\n')).toMatch(/FORWARD policy is DROP and FORWARD does not jump to TSNET-FORWARD/);
    expect((await h.tsnet('firewall', 'reload')).code).toBe(0);
    expect(await reachable(h, out)).toEqual(both);
    expect((await h.exec(['iptables', '-S', 'FORWARD'])).stdout).toMatch(/^-P FORWARD DROP\n-A FORWARD -j TSNET-FORWARD\n$/);
  }, 90_000);

  it('the watcher re-applies within 2 s after nft flush ruleset, a DROP policy appearing, and iptables -F (nftables backend)', async () => {
    const h = await testHost('tfw', { TSNET_FIREWALL_WATCH: '1' });
    const out = await setup(h, 'nftables', '10.232.2.0/24');
    await recoveryMs(h, out);
    expect((await status(h)).s.watcher.running).toBe(true);

    await h.exec(['nft', 'flush', 'ruleset']);
    const afterFlush = await recoveryMs(h, out);
    await h.exec(['iptables', '-P', 'FORWARD', 'DROP']);
    const afterPolicy = await recoveryMs(h, out);
    await h.exec(['iptables', '-F']);
    const afterIptF = await recoveryMs(h, out);
    console.log(`watcher recovery (nftables): flush ruleset ${afterFlush} ms, policy DROP ${afterPolicy} ms, iptables -F ${afterIptF} ms`);
    for (const ms of [afterFlush, afterPolicy, afterIptF]) expect(ms).toBeLessThan(2000);
    expect(await status(h)).toMatchObject({ code: 0, s: { complete: true, forwardPolicy: 'DROP' } });
    const log = (await h.exec(['cat', `${h.stateDir}/firewall/watch.log`])).stdout;
    expect(log).toMatch(/re-applied in \d+ ms \(table inet tsnet is missing/);
  }, 90_000);

  it('the watcher re-applies within 2 s after iptables -F and iptables -t nat -F (iptables backend)', async () => {
    const h = await testHost('tfw', { TSNET_FIREWALL_WATCH: '1' });
    const out = await setup(h, 'iptables', '10.232.3.0/24');
    await recoveryMs(h, out);
    expect((await h.exec(['iptables-save'])).stdout).toContain('-A POSTROUTING -j TSNET-POSTROUTING');

    await h.exec(['iptables', '-t', 'nat', '-F']);
    await h.exec(['iptables', '-F']);
    const ms = await recoveryMs(h, out);
    console.log(`watcher recovery (iptables): iptables -F + -t nat -F ${ms} ms`);
    expect(ms).toBeLessThan(2000);
    expect((await h.exec(['iptables-save', '-t', 'nat'])).stdout).toMatch(/-A TSNET-PREROUTING .*--dport 8080 -j DNAT/);
    expect((await status(h)).code).toBe(0);
  }, 90_000);
});
