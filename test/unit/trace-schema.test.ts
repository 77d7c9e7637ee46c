import { describe, expect, it } from 'vitest';
import type { TraceReport } from '../../core/src/diag/trace/trace.js';
import { schemaErrors } from '../helpers/schema.js';

/** Every optional field present, all the way down: a field added to TraceReport must be added here (tsc says so), and then to the schema. */
type DeepRequired<T> = T extends readonly (infer U)[] ? DeepRequired<U>[] : T extends object ? { [K in keyof T]-?: DeepRequired<NonNullable<T[K]>> } : T;

const full: DeepRequired<TraceReport> = {
  from: 'c2', to: 'c1', address: '10.206.1.2', resolvedBy: "tsnet's records (c1 on network web; the name does not resolve from c2)", proto: 'tcp', port: 80,
  probe: { src: '10.206.2.2', sport: 45000, dst: '10.206.1.2', dport: 80, outcome: 'error', error: 'EPERM' },
  route: '10.206.1.2 via 10.206.2.1 dev eth0 src 10.206.2.2',
  traced: ['host', 'from'],
  hops: [{
    ns: 'host', direction: 'probe', hook: 'forward', iif: 'br-o', oif: 'br-w', iifIs: 'bridge of network other', oifIs: 'bridge of network web',
    packet: { iif: 'br-o', oif: 'br-w', saddr: '10.206.2.2', daddr: '10.206.1.2', proto: 'tcp', sport: 45000, dport: 80, mark: '0x00001000' },
    after: { iif: 'br-o', oif: 'br-w', saddr: '10.206.2.1', daddr: '10.206.1.2', proto: 'tcp', sport: 45000, dport: 80, mark: '0x00001000' },
    chains: [{
      family: 'inet', table: 'tsnet', chain: 'forward', owner: 'tsnet', type: 'filter', priority: 'filter - 1', policy: 'accept',
      rules: [{ chain: 'forward', handle: 6, text: 'iifname "br-o" oifname "br-w" drop', verdict: 'drop' }], verdict: 'drop', byPolicy: false,
    }],
  }],
  nat: [{ kind: 'dnat', hook: 'prerouting', rule: 'tcp dport 8090 dnat ip to 10.206.1.2:80', table: 'inet tsnet', chain: 'prerouting', before: '10.206.2.1:8090', after: '10.206.1.2:80' }],
  routing: ['probe: routed through the host, forwarded br-o -> br-w to 10.206.1.2'],
  verdict: {
    result: 'dropped', why: "dropped by tsnet's network isolation", kind: 'isolation',
    rule: { family: 'inet', table: 'tsnet', chain: 'forward', handle: 6, text: 'iifname "br-o" oifname "br-w" drop', owner: 'tsnet', hook: 'forward' },
    networks: ['other', 'web'], fix: 'connect the source to network web (tsnet network connect web FROM), or put both on one network',
  },
  delivered: false,
  legacy: { note: "the host's iptables is legacy", moved: [{ table: 'filter', chain: 'FORWARD', rule: 'policy DROP', packets: 1 }] },
  cleaned: ['tsnet_trace_4000000'],
};
const report: TraceReport = full;

/** What traceProbe returns when FROM has no route: nothing sent, no hops. */
const unroutable: TraceReport = {
  from: 'host', to: '192.0.2.1', address: '192.0.2.1', resolvedBy: 'address', proto: 'icmp', probe: { dst: '192.0.2.1', outcome: 'not-sent' },
  traced: [], hops: [], nat: [], routing: [], verdict: { result: 'unroutable', why: 'host has no route to 192.0.2.1: RTNETLINK answers: Network is unreachable', fix: 'check host\'s routes (tsnet inspect host)' },
  delivered: false, cleaned: [],
};

const copy = (): DeepRequired<TraceReport> & Record<string, unknown> => structuredClone(full);
const errors = schemaErrors('trace.schema.json');

describe('schemas/trace.schema.json', () => {
  it('takes a report with every field of TraceReport, and the report of a probe never sent', () => {
    expect(errors(report)).toEqual([]);
    expect(errors(unroutable)).toEqual([]);
    expect(errors(JSON.parse(JSON.stringify({ ...unroutable, route: undefined, port: undefined })))).toEqual([]);
  });

  it('refuses an unknown field anywhere, a wrong type, a missing field, each at its path', () => {
    const cases: [string, (r: ReturnType<typeof copy>) => void, string][] = [
      ['unknown field', (r) => { r['hint'] = 'x'; }, '/ must NOT have additional properties {"additionalProperty":"hint"}'],
      ['unknown hop field', (r) => { (r.hops[0] as Record<string, unknown>)['ttl'] = 63; }, '/hops/0 must NOT have additional properties'],
      ['unknown packet field', (r) => { (r.hops[0]!.packet as Record<string, unknown>)['ttl'] = 63; }, '/hops/0/packet must NOT have additional properties'],
      ['unknown verdict rule field', (r) => { (r.verdict.rule as Record<string, unknown>)['comment'] = 'x'; }, '/verdict/rule must NOT have additional properties'],
      ['port as a string', (r) => { (r as Record<string, unknown>)['port'] = '80'; }, '/port must be integer'],
      ['port 0', (r) => { r.port = 0; }, '/port must be >= 1'],
      ['delivered as a string', (r) => { (r as Record<string, unknown>)['delivered'] = 'no'; }, '/delivered must be boolean'],
      ['handle as a string', (r) => { (r.hops[0]!.chains[0]!.rules[0] as Record<string, unknown>)['handle'] = '6'; }, '/hops/0/chains/0/rules/0/handle must be integer'],
      ['unknown namespace', (r) => { (r.traced as string[])[1] = 'dst'; }, '/traced/1 must be equal to one of the allowed values'],
      ['unknown result', (r) => { (r.verdict as Record<string, unknown>)['result'] = 'maybe'; }, '/verdict/result must be equal to one of the allowed values'],
      ['unknown owner', (r) => { (r.hops[0]!.chains[0] as Record<string, unknown>)['owner'] = 'me'; }, '/hops/0/chains/0/owner must be equal to one of the allowed values'],
      ['an address that is a name', (r) => { r.address = 'c1'; }, '/address must match pattern'],
      ['missing verdict', (r) => { delete (r as Record<string, unknown>)['verdict']; }, "/ must have required property 'verdict'"],
      ['missing cleaned', (r) => { delete (r as Record<string, unknown>)['cleaned']; }, "/ must have required property 'cleaned'"],
      ['missing outcome', (r) => { delete (r.probe as Record<string, unknown>)['outcome']; }, "/probe must have required property 'outcome'"],
      ['missing byPolicy', (r) => { delete (r.hops[0]!.chains[0] as Record<string, unknown>)['byPolicy']; }, "/hops/0/chains/0 must have required property 'byPolicy'"],
      ['missing legacy moved', (r) => { delete (r.legacy as Record<string, unknown>)['moved']; }, "/legacy must have required property 'moved'"],
      ['tcp without a port', (r) => { delete (r as Record<string, unknown>)['port']; }, "/ must have required property 'port'"],
      ['icmp with a port', (r) => { r.proto = 'icmp'; }, '/port boolean schema is false'],
      ['delivered with a drop verdict', (r) => { r.delivered = true; }, '/delivered must be equal to constant'],
      ['not delivered with a delivered verdict', (r) => { r.verdict = { result: 'delivered', why: 'delivered', kind: 'rule', rule: r.verdict.rule, networks: [], fix: '' }; }, '/delivered must be equal to constant'],
    ];
    for (const [what, change, message] of cases) {
      const r = copy();
      change(r);
      const e = errors(JSON.parse(JSON.stringify(r)));
      expect(e.some((line) => line.startsWith(message)), `${what}: ${JSON.stringify(e)}`).toBe(true);
    }
  });
});
