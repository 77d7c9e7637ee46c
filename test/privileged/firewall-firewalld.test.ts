import { describe, expect, it } from 'vitest';
import { privateFirewalld, haveFirewalld } from '../helpers/firewalld.js';
import { NETTOOL, outside, testHost } from '../helpers/host.js';
import { isRoot } from '../helpers/scratch.js';
import { both, reachable, untilReachable } from '../helpers/fw-probe.js';

/**
 * Under firewalld (a private one: its own D-Bus and the test's host namespace, see
 * helpers/firewalld.ts), tsnet's containers keep connectivity (their bridge goes into the trusted
 * zone, as netavark does) and get it back after `firewall-cmd --reload`, which forgets runtime
 * zone bindings (netavark #230 / #1258): by `tsnet firewall reload` and by the watcher.
 */

async function setup(watch: '0' | '1', subnet: string) {
  const fw = privateFirewalld();
  const h = await testHost('tfw', { TSNET_DBUS_SYSTEM_BUS_ADDRESS: fw.busAddress, TSNET_FIREWALL_WATCH: watch });
  await fw.start(h.ns);
  const out = await outside(h);
  expect((await h.tsnet('network', 'create', '--subnet', subnet, 'tfwnet')).code).toBe(0);
  expect((await h.tsnet('run', '-d', '--network', 'tfwnet', '--name', 'srv', '-p', '8080:80', '--', 'node', NETTOOL, 'serve-tcp', '80', 'hello-tfw')).stderr).toBe('');
  const st = JSON.parse((await h.tsnet('--format', 'json', 'firewall', 'status')).stdout) as { firewalld: { running: boolean; zones: Record<string, string> } };
  expect(st.firewalld.running).toBe(true);
  const bridge = Object.keys(st.firewalld.zones)[0]!;
  return { fw, h, out, bridge };
}

describe.skipIf(!isRoot || !haveFirewalld)('firewalld (root, private firewalld)', () => {
  it('bridges go into the trusted zone; firewall-cmd --reload cuts containers off until tsnet firewall reload', async () => {
    const { fw, h, out, bridge } = await setup('0', '10.232.11.0/24');
    expect((await fw.cmd(`--get-zone-of-interface=${bridge}`)).stdout.trim()).toBe('trusted');
    await untilReachable(h, out, 5000);
    // firewalld itself drops what is in no zone: take the bridge out and egress stops.
    expect((await fw.cmd('--zone=trusted', `--remove-interface=${bridge}`)).code).toBe(0);
    expect((await reachable(h, out)).egress).toBe(false);
    expect((await h.tsnet('firewall', 'reload')).stdout).toContain(`firewalld: ${bridge} added to zone trusted`);
    expect(await reachable(h, out)).toEqual(both);

    // The netavark wound: a reload forgets the runtime binding.
    expect((await fw.cmd('--reload')).code).toBe(0);
    expect((await fw.cmd(`--get-zone-of-interface=${bridge}`)).stdout.trim()).not.toBe('trusted');
    expect((await reachable(h, out)).egress).toBe(false);
    expect((await h.tsnet('firewall', 'reload')).code).toBe(0);
    expect((await fw.cmd(`--get-zone-of-interface=${bridge}`)).stdout.trim()).toBe('trusted');
    expect(await reachable(h, out)).toEqual(both);
    // Runtime only: firewalld's permanent config never learns about the bridge.
    expect((await fw.cmd('--permanent', '--zone=trusted', '--list-interfaces')).stdout.trim()).toBe('');
  }, 120_000);

  it('the watcher puts the bridge back in the trusted zone after firewall-cmd --reload', async () => {
    const { fw, h, out, bridge } = await setup('1', '10.232.12.0/24');
    await untilReachable(h, out, 5000);
    const t0 = Date.now();
    expect((await fw.cmd('--reload')).code).toBe(0);
    const reloadMs = Date.now() - t0;
    const ms = await untilReachable(h, out, 5000);
    console.log(`firewall-cmd --reload took ${reloadMs} ms; connectivity back ${ms} ms after it returned`);
    expect(ms).toBeLessThan(2000);
    expect((await fw.cmd(`--get-zone-of-interface=${bridge}`)).stdout.trim()).toBe('trusted');
    expect((await h.exec(['cat', `${h.stateDir}/firewall/watch.log`])).stdout).toMatch(/firewalld table re-created/);
  }, 120_000);
});
