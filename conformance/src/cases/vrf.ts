import { CaseSkip, bridgeAttach, chained, delTwice, expect, gcStatus, kernelHas, link, ok, older, passedThrough, routes, type AddResult, type Case, type IpLink } from './common.js';

/** vrf, chained after bridge: needs CONFIG_NET_VRF (without it: the ADD's error and the untouched interface, then skipped). */
export const VRF_CASES: Case[] = [
  {
    name: 'vrf/add-check-del',
    needs: ['bridge', 'host-local', 'vrf'],
    perVersion: false,
    async run(c) {
      const main = await bridgeAttach(c, '10.214.7.0/24');
      const has = await kernelHas(c, 'vrf');
      const conf = chained(c, 'vrf', main.result, { vrfname: 'blue' });
      const r = await c.exec('vrf', 'ADD', conf, main.env);
      if (!has) {
        expect(r.code !== 0 && typeof r.json?.['code'] === 'number', `vrf ADD on a kernel without vrf did not fail with an error JSON: ${r.stdout}`);
        const links = await c.nsJson<IpLink[]>(main.netns, 'link');
        expect(!links.some((l) => l.ifname === 'blue') && links.find((l) => l.ifname === 'eth0')?.master === undefined, `a failed vrf ADD changed the container: ${JSON.stringify(links.map((l) => [l.ifname, l.master]))}`);
        throw new CaseSkip(`the kernel has no vrf (CONFIG_NET_VRF); plugin answered code ${String(r.json?.['code'])}: ${String(r.json?.['msg'])}`);
      }
      expect(r.code === 0, `vrf ADD exited ${r.code}: ${r.stdout}`);
      const result = r.json as AddResult;
      passedThrough(main.result, result, 'vrf ADD');
      const blue = await link(c, main.netns, 'blue');
      const table = blue?.linkinfo?.info_data?.['table'];
      expect(blue?.linkinfo?.info_kind === 'vrf' && typeof table === 'number', `no VRF blue in the container: ${JSON.stringify(blue)}`);
      expect((await link(c, main.netns, 'eth0'))?.master === 'blue', 'eth0 is not enslaved to blue');
      const t = await routes(c, main.netns, '-4', String(table));
      expect(t.some((x) => x.startsWith('10.214.7.0/24 dev eth0')), `the subnet route is not in the VRF's table ${String(table)}: ${t.join('; ')}`);
      if (!older(c.version, '0.4.0')) await ok(c, 'vrf', 'CHECK', { ...conf, prevResult: result }, main.env);
      await delTwice(c, 'vrf', conf, main.env, async () => {
        expect((await link(c, main.netns, 'blue')) === undefined, 'VRF blue left after DEL of its last member');
      });
    },
  },
  gcStatus('vrf', ['vrf'], (c) => ({ cniVersion: c.version, name: `conf-${c.tag}`, type: 'vrf', vrfname: 'blue' })),
];
