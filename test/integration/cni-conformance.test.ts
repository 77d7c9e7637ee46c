import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { installPlugins } from '../../core/src/cni/install.js';
import { CASES } from '../../conformance/src/cases/index.js';
import { findDnsmasq } from '../../conformance/src/cases/dhcp-lan.js';
import { runSuite, type CaseResult } from '../../conformance/src/suite.js';
import { isRoot, kernelHasLinkKind, type ProbeKind } from '../helpers/scratch.js';
import { PLUGINS } from '../../plugins/registry.js';

/** Link kinds this kernel may lack, each with the case that then skips and the option it names. */
const KINDS: { kind: ProbeKind; case: string; option: string }[] = [
  { kind: 'ipvlan', case: 'ipvlan/add-check-del', option: 'CONFIG_IPVLAN' },
  { kind: 'dummy', case: 'dummy/add-check-del', option: 'CONFIG_DUMMY' },
  { kind: 'vlan', case: 'vlan/add-check-del', option: 'CONFIG_VLAN_8021Q' },
  { kind: 'vrf', case: 'vrf/add-check-del', option: 'CONFIG_NET_VRF' },
];
const lacking: typeof KINDS = [];
for (const k of KINDS) if (!(await kernelHasLinkKind(k.kind))) lacking.push(k);
/** Skips allowed for tsnet's plugins: only where this kernel lacks a kind; the case says so itself. */
const kernelSkips = lacking.map((k) => k.case);

/** The dhcp cases need dnsmasq as the DHCP server; without it they skip saying so (both plugin sets). */
const HAS_DNSMASQ = findDnsmasq() !== undefined;
const dhcpSkips = HAS_DNSMASQ ? [] : ['dhcp/add-check-del', 'dhcp/gc-status'];

const REFERENCE = '/usr/lib/cni';
/** Plugins whose cases need spec 1.1.0 (GC, STATUS): the reference 1.1.1 claims up to 1.0.0. */
const GC_STATUS = ['loopback', 'macvlan', 'ipvlan', 'portmap', 'host-local', 'ptp', 'host-device', 'vlan', 'vrf', 'firewall', 'tuning', 'bandwidth', 'sbr', 'static', 'dhcp'];
/** Plugins Debian's reference 1.1.1 does not have (tap came in 1.3; dummy later still). */
const NOT_IN_REFERENCE = ['tap', 'dummy'];
/** Exactly the cases the reference fails the known way (conformance/README.md's deviation table), with the deviation each hit. */
const REFERENCE_DEVIATIONS = [
  { case: 'portmap/publish-and-unpublish', deviations: ['portmap-check'] },
  { case: 'host-device/add-check-del', deviations: ['host-device-second-del'] },
  { case: 'tuning/add-check-del', deviations: ['tuning-check-ifname'] },
];

const named = (rs: CaseResult[], status: CaseResult['status']) => rs.filter((r) => r.status === status).map((r) => r.case).sort();

/** tsnet's plugins: nothing fails or deviates, skips only for missing kinds (each naming its option and code 50) or dnsmasq, every case ran. */
function expectTsnet(results: CaseResult[]): void {
  expect(results.filter((r) => r.status === 'fail')).toEqual([]);
  expect(results.filter((r) => r.status === 'deviation')).toEqual([]);
  expect(named(results, 'skip')).toEqual([...kernelSkips, ...dhcpSkips].sort());
  for (const k of lacking) expect(results.find((r) => r.case === k.case)!.detail).toMatch(new RegExp(`code 50: .*${k.option}`, 'u'));
  for (const c of dhcpSkips) expect(results.find((r) => r.case === c)!.detail).toMatch(/^dnsmasq is not installed/u);
  const ran = new Set(results.map((r) => r.case));
  for (const tc of CASES) expect(ran, tc.name).toContain(tc.name);
}

describe.skipIf(!isRoot)('CNI conformance suite (root)', () => {
  it("tsnet's plugins, installed as a runtime finds them, pass every case at every version they claim", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-cni-bin-'));
    try {
      const written = installPlugins(dir);
      // Every plugin the worker knows is installed (and nothing else).
      expect(written.map((w) => path.basename(w)).sort()).toEqual(Object.keys(PLUGINS).sort());
      expect(written.length).toBeGreaterThanOrEqual(15);
      // One native launcher under every name (hard links), configured for this installation.
      expect(fs.readFileSync(written[0]!).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
      expect(new Set(written.map((w) => fs.statSync(w).ino)).size).toBe(1);
      expect(fs.readFileSync(written[0]!).includes(`root=${path.resolve('.')}\n`)).toBe(true);
      const results = await runSuite({ plugins: dir });
      expectTsnet(results);
      const cases = new Set(results.map((r) => `${r.case}@${r.version ?? ''}`));
      for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
        for (const c of ['bridge/add-check-del', 'ptp/add-check-del', 'static/add-check-del']) expect(cases).toContain(`${c}@${v}`);
      }
      expect(cases).toContain('bridge/gc-removes-stale-leases@1.1.0');
      expect(cases).toContain('bridge/status@1.1.0');
      expect(cases).toContain('macvlan/add-check-del@1.1.0');
      expect(cases).toContain('dhcp/add-check-del@1.1.0');
      for (const p of [...GC_STATUS, ...NOT_IN_REFERENCE]) expect(cases).toContain(`${p}/gc-status@1.1.0`);
      for (const c of ['firewall/forward-open-close', 'tuning/add-check-del', 'bandwidth/add-check-del', 'sbr/add-check-del', 'host-device/add-check-del', 'tap/add-check-del']) expect(cases).toContain(`${c}@1.1.0`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('the same suite passes again with the worker disabled (TSNET_WORKER=0: every call a direct Node run)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-cni-bin-'));
    process.env['TSNET_WORKER'] = '0';
    try {
      installPlugins(dir);
      const results = await runSuite({ plugins: dir });
      expectTsnet(results);
      expect(results.filter((r) => r.status === 'pass').length).toBeGreaterThanOrEqual(70);
    } finally {
      delete process.env['TSNET_WORKER'];
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it.skipIf(!fs.existsSync(path.join(REFERENCE, 'bridge')))('the reference plugins pass the same cases (proving the suite, dhcp with its own daemon) but exactly the known deviations; GC/STATUS skip (they claim up to 1.0.0), tap and dummy skip (absent)', async () => {
    const results = await runSuite({ plugins: REFERENCE });
    expect(results.filter((r) => r.status === 'fail')).toEqual([]);
    expect(results.filter((r) => r.status === 'deviation').map((r) => ({ case: r.case, deviations: r.deviations })).sort((a, b) => a.case.localeCompare(b.case))).toEqual(
      [...REFERENCE_DEVIATIONS].sort((a, b) => a.case.localeCompare(b.case)),
    );
    const versionSkips = ['bridge/gc-removes-stale-leases', 'bridge/status', ...GC_STATUS.map((p) => `${p}/gc-status`)];
    const absent = NOT_IN_REFERENCE.flatMap((p) => [`${p}/add-check-del`, `${p}/gc-status`]);
    const refKernelSkips = kernelSkips.filter((c) => !NOT_IN_REFERENCE.some((p) => c.startsWith(`${p}/`)));
    const refDhcpSkips = dhcpSkips.filter((c) => !versionSkips.includes(c));
    expect(named(results, 'skip')).toEqual([...versionSkips, ...absent, ...refKernelSkips, ...refDhcpSkips].sort());
    // The reference's own dhcp daemon and plugin against dnsmasq: ADD, CHECK, DEL, second DEL all pass at 1.0.0.
    expect(results.find((r) => r.case === 'dhcp/add-check-del')).toMatchObject({ version: '1.0.0', status: HAS_DNSMASQ ? 'pass' : 'skip' });
    for (const c of versionSkips) expect(results.find((r) => r.case === c)!.detail).toMatch(/needs spec 1\.1\.0\+/u);
    for (const c of absent) expect(results.find((r) => r.case === c)!.detail).toMatch(/^the plugin dir has no (tap|dummy)$/u);
    expect(results.filter((r) => r.status === 'pass').length).toBeGreaterThanOrEqual(40);
  }, 300_000);
});
