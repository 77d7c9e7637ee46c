import type { CaseContext } from '../context.js';
import { delTwice, expect, gcStatus, ok, older, type AddResult, type Case } from './common.js';

const staticConf = (c: CaseContext) => ({
  cniVersion: c.version,
  name: `conf-${c.tag}`,
  type: 'bridge',
  ipam: {
    type: 'static',
    addresses: [{ address: '10.214.12.5/24', gateway: '10.214.12.1' }, { address: 'fd14:12::5/64', gateway: 'fd14:12::1' }],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '10.214.200.0/24', gw: '10.214.12.254' }],
    dns: { nameservers: ['10.214.12.53'], search: ['conf.example'] },
  },
});

export const STATIC_CASES: Case[] = [
  {
    name: 'static/add-check-del',
    needs: ['static'],
    perVersion: true,
    async run(c) {
      const netns = await c.netns();
      const env = { containerId: `c-${c.tag}`, netns };
      const conf = staticConf(c);
      const r = (await ok(c, 'static', 'ADD', conf, env)).json as AddResult;
      expect(r.cniVersion === c.version, `result cniVersion ${r.cniVersion}, asked ${c.version}`);
      const ips = (r.ips ?? []).map((i) => `${i.address} gw ${i.gateway ?? '-'}${older(c.version, '1.0.0') ? ` v${i.version ?? '-'}` : i.version === undefined ? '' : ' version!'}`);
      const v = (n: string) => (older(c.version, '1.0.0') ? ` v${n}` : '');
      const want = [`10.214.12.5/24 gw 10.214.12.1${v('4')}`, `fd14:12::5/64 gw fd14:12::1${v('6')}`];
      expect(JSON.stringify(ips) === JSON.stringify(want), `result ips ${JSON.stringify(r.ips)}`);
      const rs = (r.routes ?? []).map((x) => `${x.dst}${x.gw ? ` via ${x.gw}` : ''}`);
      expect(rs.includes('0.0.0.0/0') && rs.includes('10.214.200.0/24 via 10.214.12.254'), `result routes ${JSON.stringify(r.routes)}`);
      expect(r.dns?.nameservers?.[0] === '10.214.12.53' && r.dns.search?.[0] === 'conf.example', `result dns ${JSON.stringify(r.dns)}`);
      expect((r.interfaces ?? []).length === 0, `an IPAM result names interfaces: ${JSON.stringify(r.interfaces)}`);
      if (!older(c.version, '0.4.0')) await ok(c, 'static', 'CHECK', { ...conf, prevResult: r }, env);
      await delTwice(c, 'static', conf, env);
    },
  },
  gcStatus('static', ['static'], staticConf),
];
