import { bridgeAttach, chained, delTwice, expect, gcStatus, hostVeth, link, ok, older, qdiscs, type AddResult, type Case } from './common.js';

const LIMITS = { ingressRate: 8_000_000, ingressBurst: 400_000, egressRate: 4_000_000, egressBurst: 400_000 };

export const BANDWIDTH_CASES: Case[] = [
  {
    name: 'bandwidth/add-check-del',
    needs: ['bridge', 'host-local', 'bandwidth'],
    perVersion: false,
    async run(c) {
      const main = await bridgeAttach(c, '10.214.10.0/24');
      const veth = hostVeth(c, main.result);
      const conf = chained(c, 'bandwidth', main.result, LIMITS);
      const result = (await ok(c, 'bandwidth', 'ADD', conf, main.env)).json as AddResult;
      expect(JSON.stringify(result.ips) === JSON.stringify(main.result.ips), `bandwidth ADD changed ips: ${JSON.stringify(result.ips)}`);
      // The result adds the ifb that shapes egress; it is up on the host.
      const ifb = result.interfaces?.find((i) => !(main.result.interfaces ?? []).some((p) => p.name === i.name))?.name ?? '';
      expect(ifb !== '' && !result.interfaces?.find((i) => i.name === ifb)?.sandbox, `no ifb added to the result's interfaces: ${JSON.stringify(result.interfaces)}`);
      expect((await link(c, undefined, ifb))?.flags.includes('UP'), `ifb ${ifb} not up on the host`);
      // tc: tbf at the ingress rate on the host veth (bytes/s), an ingress qdisc there redirecting to the ifb, tbf at the egress rate on the ifb.
      const qs = await qdiscs(c);
      const on = (dev: string, kind: string) => qs.find((q) => q.dev === dev && q.kind === kind);
      const shown = JSON.stringify(qs.map((q) => ({ dev: q.dev, kind: q.kind, rate: q.options?.['rate'] })));
      expect(on(veth, 'tbf')?.options?.['rate'] === LIMITS.ingressRate / 8, `no tbf at ${LIMITS.ingressRate / 8} B/s on ${veth}: ${shown}`);
      expect(on(veth, 'ingress') !== undefined, `no ingress qdisc on ${veth}: ${shown}`);
      expect(on(ifb, 'tbf')?.options?.['rate'] === LIMITS.egressRate / 8, `no tbf at ${LIMITS.egressRate / 8} B/s on ${ifb}: ${shown}`);
      if (!older(c.version, '0.4.0')) await ok(c, 'bandwidth', 'CHECK', { ...conf, prevResult: result }, main.env);
      await delTwice(c, 'bandwidth', conf, main.env, async () => {
        expect((await link(c, undefined, ifb)) === undefined, `ifb ${ifb} left after DEL`);
      });
    },
  },
  gcStatus('bandwidth', ['bandwidth'], (c) => ({ cniVersion: c.version, name: `conf-${c.tag}`, type: 'bandwidth', ...LIMITS })),
];
