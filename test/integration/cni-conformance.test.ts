import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { installPlugins } from '../../core/src/cni/install.js';
import { runSuite } from '../../conformance/src/suite.js';
import { isRoot, kernelHasLinkKind } from '../helpers/scratch.js';
import { PLUGINS } from '../../plugins/registry.js';

const hasIpvlan = await kernelHasLinkKind('ipvlan');
/** Skips allowed only where this kernel lacks ipvlan; the case says so itself. */
const kernelSkips = hasIpvlan ? [] : ['ipvlan/add-check-del'];

const REFERENCE = '/usr/lib/cni';

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
      expect(results.filter((r) => r.status === 'fail')).toEqual([]);
      expect(results.filter((r) => r.status === 'skip').map((r) => r.case)).toEqual(kernelSkips);
      if (!hasIpvlan) expect(results.find((r) => r.case === 'ipvlan/add-check-del')!.detail).toMatch(/code 50: .*CONFIG_IPVLAN/);
      const cases = new Set(results.map((r) => `${r.case}@${r.version ?? ''}`));
      for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) expect(cases).toContain(`bridge/add-check-del@${v}`);
      expect(cases).toContain('bridge/gc-removes-stale-leases@1.1.0');
      expect(cases).toContain('bridge/status@1.1.0');
      expect(cases).toContain('macvlan/add-check-del@1.1.0');
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
      expect(results.filter((r) => r.status === 'fail')).toEqual([]);
      expect(results.filter((r) => r.status === 'skip').map((r) => r.case)).toEqual(kernelSkips);
      expect(results.filter((r) => r.status === 'pass').length).toBeGreaterThanOrEqual(20);
    } finally {
      delete process.env['TSNET_WORKER'];
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it.skipIf(!fs.existsSync(path.join(REFERENCE, 'bridge')))('the reference plugins pass the same cases (proving the suite); GC and STATUS skip, as they claim only up to 1.0.0', async () => {
    const results = await runSuite({ plugins: REFERENCE, only: ['bridge', 'host-local', 'loopback', 'macvlan', 'ipvlan', 'portmap'] });
    expect(results.filter((r) => r.status === 'fail')).toEqual([]);
    expect(results.filter((r) => r.status === 'skip').map((r) => r.case).sort()).toEqual(['bridge/gc-removes-stale-leases', 'bridge/status', ...kernelSkips].sort());
    expect(results.filter((r) => r.status === 'pass').length).toBeGreaterThanOrEqual(18);
  }, 300_000);
});
