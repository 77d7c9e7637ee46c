import { randomBytes } from 'node:crypto';
import { run } from '../exec.js';
import { Netlink } from '../kernel/netlink.js';
import { netnsCreate, netnsDelete, netnsList, type NetnsRef } from '../kernel/netns.js';
import { sysctlSet } from '../kernel/sysctl.js';

/**
 * The kernel layer at work, with no effect on the machine's own interfaces: a private "host"
 * namespace with two bridges (secure and other), frontend + backend attached to secure, payment
 * attached to other. Frontend and backend talk; payment cannot reach them because the private
 * host does not forward between the two segments.
 */
export interface DemoCheck {
  from: string;
  to: string;
  address: string;
  expected: 'reachable' | 'unreachable';
  observed: 'reachable' | 'unreachable';
  ok: boolean;
}

export interface DemoReport {
  checks: DemoCheck[];
  ok: boolean;
  /** Milliseconds spent wiring all namespaces through netlink. */
  wireMs: number;
}

interface Member {
  name: string;
  bridge: 'secure0' | 'other0';
  address: string;
}

const GATEWAYS = { secure0: '10.89.0.1', other0: '10.89.1.1' } as const;
const MEMBERS: Member[] = [
  { name: 'frontend', bridge: 'secure0', address: '10.89.0.2' },
  { name: 'backend', bridge: 'secure0', address: '10.89.0.3' },
  { name: 'payment', bridge: 'other0', address: '10.89.1.2' },
];

async function wire(host: Netlink, nsOf: Map<string, NetnsRef>): Promise<void> {
  for (const [br, gw] of Object.entries(GATEWAYS)) {
    await host.linkAdd({ kind: 'bridge', name: br });
    await host.addrAdd(br, `${gw}/24`);
    await host.linkSetUp(br);
  }
  for (const m of MEMBERS) {
    const ns = nsOf.get(m.name)!;
    const hostEnd = `veth-${m.name}`.slice(0, 15);
    await host.linkAdd({ kind: 'veth', name: hostEnd, peer: { name: 'eth0', netnsPath: ns.path } });
    await host.linkSetMaster(hostEnd, m.bridge);
    await host.linkSetUp(hostEnd);
    await Netlink.with(ns, async (c) => {
      await c.linkSetUp('lo');
      await c.addrAdd('eth0', `${m.address}/24`);
      await c.linkSetUp('eth0');
      await c.routeAdd({ dst: 'default', gateway: GATEWAYS[m.bridge] });
    });
  }
}

async function reachable(ns: NetnsRef, address: string): Promise<boolean> {
  const r = await run(['nsenter', `--net=${ns.path}`, 'ping', '-c', '1', '-W', '1', address], { check: false });
  return r.code === 0;
}

export async function runDemo(): Promise<DemoReport> {
  const tag = randomBytes(3).toString('hex');
  const names = ['host', ...MEMBERS.map((m) => m.name)].map((n) => [n, `tsnet-demo-${n}-${tag}`] as const);
  const nsOf = new Map<string, NetnsRef>();
  try {
    for (const [role, name] of names) nsOf.set(role, netnsCreate(name));
    const hostNs = nsOf.get('host')!;
    sysctlSet('net.ipv4.ip_forward', '0', hostNs);
    const t0 = performance.now();
    await Netlink.with(hostNs, (host) => wire(host, nsOf));
    const wireMs = performance.now() - t0;
    const plan: [string, string, DemoCheck['expected']][] = [
      ['frontend', 'backend', 'reachable'],
      ['backend', 'frontend', 'reachable'],
      ['payment', 'backend', 'unreachable'],
      ['payment', 'frontend', 'unreachable'],
    ];
    const checks: DemoCheck[] = [];
    for (const [from, to, expected] of plan) {
      const address = MEMBERS.find((m) => m.name === to)!.address;
      const observed = (await reachable(nsOf.get(from)!, address)) ? 'reachable' : 'unreachable';
      checks.push({ from, to, address, expected, observed, ok: observed === expected });
    }
    return { checks, ok: checks.every((c) => c.ok), wireMs };
  } finally {
    const present = new Set(netnsList());
    for (const [, name] of names) if (present.has(name)) netnsDelete(name);
  }
}
