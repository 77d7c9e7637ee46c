import { describe, expect, it } from 'vitest';
import { KernelFeatureMissingError } from '../../core/src/index.js';
import type { IpLink } from '../helpers/ip-json.js';
import { ipj, isRoot, kernelHasLinkKind, scratchNetns } from '../helpers/scratch.js';

// Asked through iproute2 before the tests run; each test states which branch applies.
const hasIpvlan = await kernelHasLinkKind('ipvlan');
const hasDummy = await kernelHasLinkKind('dummy');

describe.skipIf(!isRoot)('link kinds the kernel may lack (root)', () => {
  it.skipIf(hasIpvlan)('ipvlan on a kernel without it: KERNEL_FEATURE_MISSING naming CONFIG_IPVLAN, nothing created', async () => {
    const s = scratchNetns('noiv');
    await s.nl.linkAdd({ kind: 'veth', name: 'par0', peer: { name: 'par1' } });
    const err = await s.nl.linkAdd({ kind: 'ipvlan', name: 'iv0', parent: 'par0', mode: 'l3' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernelFeatureMissingError);
    expect(err).toMatchObject({ code: 'KERNEL_FEATURE_MISSING', option: 'CONFIG_IPVLAN' });
    expect((err as Error).message).toMatch(/CONFIG_IPVLAN/);
    expect((await ipj<IpLink[]>(s.name, 'link')).map((l) => l.ifname)).not.toContain('iv0');
  });

  it.skipIf(!hasIpvlan)('ipvlan l2, l3 and l3s on a veth parent (needs CONFIG_IPVLAN; skipped where the kernel lacks it)', async () => {
    const s = scratchNetns('iv');
    await s.nl.linkAdd({ kind: 'veth', name: 'par0', peer: { name: 'par1' } });
    for (const mode of ['l2', 'l3', 'l3s'] as const) {
      const l = await s.nl.linkAdd({ kind: 'ipvlan', name: `iv-${mode}`, parent: 'par0', mode });
      expect(l.info).toEqual({ kind: 'ipvlan', mode });
      const seen = (await ipj<IpLink[]>(s.name, '-d', 'link', 'show', 'dev', `iv-${mode}`))[0]!;
      expect(seen.linkinfo?.info_kind).toBe('ipvlan');
      expect(seen.linkinfo?.info_data?.['mode']).toBe(mode);
      await s.nl.linkDel(`iv-${mode}`);
    }
  });

  it.skipIf(hasDummy)('dummy on a kernel without it: KERNEL_FEATURE_MISSING naming CONFIG_DUMMY', async () => {
    const s = scratchNetns('nodm');
    await expect(s.nl.linkAdd({ kind: 'dummy', name: 'd0' })).rejects.toMatchObject({
      code: 'KERNEL_FEATURE_MISSING',
      option: 'CONFIG_DUMMY',
    });
  });

  it.skipIf(!hasDummy)('dummy link (needs CONFIG_DUMMY; skipped where the kernel lacks it)', async () => {
    const s = scratchNetns('dm');
    const l = await s.nl.linkAdd({ kind: 'dummy', name: 'd0' });
    expect(l.info.kind).toBe('dummy');
    expect((await ipj<IpLink[]>(s.name, '-d', 'link', 'show', 'dev', 'd0'))[0]!.linkinfo?.info_kind).toBe('dummy');
  });
});
