import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { Address4, Address6 } from 'ip-address';
import { run } from '../exec.js';
import { overlaps } from '../ipam/pools.js';
import type { Env } from '../networks/env.js';
import { resolveTarget } from '../runtime/targets.js';

export interface PingReport {
  from: string;
  to: string;
  address?: string;
  ok: boolean;
  /** ping's summary line. */
  summary?: string;
  /** Why it failed, in words, with what to do. */
  why?: string;
}

/** Asks one resolver (the network's, on its gateway) for an A record; undefined if it has none. */
export function lookup(name: string, server: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      sock.close();
      resolve(undefined);
    }, 1500);
    sock.on('message', (m) => {
      clearTimeout(t);
      sock.close();
      const a = dnsPacket.decode(m).answers?.find((x) => x.type === 'A') as { data?: unknown } | undefined;
      resolve(a?.data ? String(a.data) : undefined);
    });
    sock.on('error', () => resolve(undefined));
    sock.send(dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name }] }), 53, server);
  });
}

const isIp = (s: string) => Address4.isValid(s) || Address6.isValid(s);

/** `tsnet ping FROM TO [-c N]`: ICMP from inside FROM's namespace, and the reason when it fails. */
export async function pingTarget(env: Env, fromRef: string, to: string, count = 3): Promise<PingReport> {
  const from = await resolveTarget(env.store, fromRef);
  const mine = env.store.endpoints().filter((e) => e.containerId === from.id);
  const report: PingReport = { from: from.name, to, ok: false };
  let address = isIp(to) ? to : undefined;
  if (!address) {
    for (const ep of mine) {
      const net = env.store.network(ep.network);
      const gw = net?.subnets.find((s) => !s.gateway.includes(':'))?.gateway;
      if (gw) address = await lookup(to, gw);
      if (address) break;
    }
  }
  if (!address) {
    const elsewhere = env.store.endpoints().filter((e) => e.containerName === to || e.aliases.includes(to));
    report.why = elsewhere.length > 0
      ? `${to} is on network ${elsewhere.map((e) => e.network).join(', ')}, ${from.name} is on ${mine.map((e) => e.network).join(', ') || 'no tsnet network'}: names resolve only within a network; connect ${from.name} to ${elsewhere[0]!.network}`
      : `the name ${to} is not known on ${from.name}'s networks (${mine.map((e) => e.network).join(', ') || 'none'}), and the upstream resolvers did not answer it`;
    return report;
  }
  report.address = address;
  const r = await run(['nsenter', `--net=${from.netnsPath}`, 'ping', '-c', String(count), '-W', '1', '-i', '0.2', address], { check: false });
  report.summary = r.stdout.split('\n').find((l) => l.includes('packets transmitted'))?.trim() ?? r.stderr.trim();
  report.ok = r.code === 0;
  if (report.ok) return report;
  const theirs = env.store.endpoints().find((e) => e.leases.some((l) => l.ip === address));
  const route = await run(['nsenter', `--net=${from.netnsPath}`, 'ip', 'route', 'get', address], { check: false });
  if (route.code !== 0) {
    report.why = `no route to ${address} from ${from.name}: ${route.stderr.trim()}; check its default route (tsnet doctor ${from.name})`;
  } else if (theirs && !mine.some((e) => e.network === theirs.network)) {
    report.why = `${address} is ${theirs.containerName} on network ${theirs.network}; ${from.name} is on ${mine.map((e) => e.network).join(', ') || 'no tsnet network'}: tsnet isolates networks from each other; connect both to one network`;
  } else if (!theirs && env.store.networks().some((n) => n.internal && mine.some((e) => e.network === n.name) && !n.subnets.some((s) => overlaps(s.subnet, `${address}/32`)))) {
    report.why = `${from.name} is on an --internal network: no traffic leaves it`;
  } else {
    report.why = `${address} does not answer: the host or its firewall drops ICMP, or it is down (tsnet doctor shows what tsnet can check)`;
  }
  return report;
}
