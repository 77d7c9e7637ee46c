import fs from 'node:fs';
import { run } from '../exec.js';
import { dnsStatus, syncDns } from '../dns/supervisor.js';
import { hasDns } from '../dns/zones.js';
import { IptablesBackend } from '../firewall/backend.js';
import { iptablesInfo } from '../firewall/host-info.js';
import { chainPrefix, firewallName } from '../firewall/name.js';
import { watcherStatus } from '../firewall/watch-start.js';
import { hostSubnets } from '../ipam/host-subnets.js';
import { gc } from '../ipam/ipam.js';
import { overlaps } from '../ipam/pools.js';
import { Netlink } from '../kernel/netlink.js';
import { netnsOpen } from '../kernel/netns.js';
import type { Env } from '../networks/env.js';
import { syncFirewall } from '../networks/firewall-sync.js';
import type { EndpointRecord, NetworkRecord } from '../networks/types.js';
import { portFree, portOwner } from '../ports/publish.js';
import { findContainer } from '../runtime/targets.js';
import { netnsEtcDir } from '../runtime/resolv.js';
import { findOrphans } from './orphans.js';
import { overlayFindings } from '../networks/drivers/overlay-doctor.js';
import { removeStaleTraceTables } from './trace/nft-ns.js';
import type { OnProgress } from '../progress.js';

/** One finding: what was checked, on what, and when it is a problem, how to fix it. */
export interface Finding {
  check: string;
  subject: string;
  ok: boolean;
  message: string;
  fix?: string;
}

type Report = (f: Finding) => void;

async function checkForwarding(env: Env, nets: NetworkRecord[], report: Report): Promise<void> {
  const open = nets.filter((n) => (n.driver === 'bridge' || n.driver === 'overlay') && !n.internal);
  if (open.length === 0) return;
  const on = env.k.sysctlGet('net/ipv4/ip_forward') === '1';
  report({ check: 'ip-forward', subject: 'host', ok: on, message: on ? 'net.ipv4.ip_forward is 1' : `net.ipv4.ip_forward is 0: ${open.map((n) => n.name).join(', ')} cannot reach past the host and published ports fail from elsewhere`, fix: 'sysctl -w net.ipv4.ip_forward=1' });
}

async function checkBridges(env: Env, nets: NetworkRecord[], report: Report): Promise<void> {
  for (const n of nets.filter((x) => (x.driver === 'bridge' || x.driver === 'overlay') && x.device)) {
    const l = await env.k.host.linkByName(n.device!).catch(() => undefined);
    if (!l) report({ check: 'bridge', subject: n.name, ok: false, message: `bridge ${n.device} of network ${n.name} does not exist`, fix: n.overlay ? 'tsnet overlay agent --once (recreates the data plane; stop the running agent first, or send it SIGHUP)' : `tsnet network rm --force ${n.name} && tsnet network create ${n.name}` });
    else report({ check: 'bridge', subject: n.name, ok: l.up, message: l.up ? `bridge ${n.device} is up` : `bridge ${n.device} of network ${n.name} is down`, fix: `ip link set ${n.device} up` });
  }
}

async function checkEndpoint(env: Env, ep: EndpointRecord, net: NetworkRecord | undefined, report: Report): Promise<void> {
  const subject = `${ep.containerName}@${ep.network}`;
  const bad = (message: string, fix: string) => report({ check: 'endpoint', subject, ok: false, message, fix });
  let ns;
  try {
    ns = netnsOpen({ path: ep.netnsPath });
  } catch {
    return bad(`the namespace of ${ep.containerName} (${ep.netnsPath}) is gone: stale state`, `tsnet network disconnect ${ep.network} ${ep.containerId.slice(0, 12)}${findContainer(env.store, ep.containerId) ? ` or tsnet rm ${ep.containerName}` : ''}`);
  }
  if (ep.hostIfname && net?.device) {
    const veth = await env.k.host.linkByName(ep.hostIfname).catch(() => undefined);
    if (!veth) return bad(`host interface ${ep.hostIfname} of ${ep.containerName} is missing`, `tsnet network disconnect ${ep.network} ${ep.containerId.slice(0, 12)} and connect again`);
    if (!veth.up) bad(`host interface ${ep.hostIfname} is down`, `ip link set ${ep.hostIfname} up`);
    const br = await env.k.host.linkByName(net.device).catch(() => undefined);
    if (br && veth.masterIndex !== br.index) bad(`host interface ${ep.hostIfname} is not attached to bridge ${net.device}`, `ip link set ${ep.hostIfname} master ${net.device}`);
  }
  const problems = await Netlink.with(ns, async (c) => {
    const out: [string, string][] = [];
    const link = await c.linkByName(ep.ifname).catch(() => undefined);
    if (!link) return [[`${ep.ifname} is missing inside ${ep.containerName}`, `tsnet network disconnect ${ep.network} ${ep.containerId.slice(0, 12)} and connect again`]] as [string, string][];
    if (!link.up) out.push([`${ep.ifname} is down inside ${ep.containerName}`, `tsnet nsenter ${ep.containerId.slice(0, 12)} -- ip link set ${ep.ifname} up`]);
    const have = new Set((await c.addrList(ep.ifname)).map((a) => a.cidr));
    for (const l of ep.leases) if (!have.has(l.cidr)) out.push([`${ep.ifname} of ${ep.containerName} lacks its address ${l.cidr}`, `tsnet nsenter ${ep.containerId.slice(0, 12)} -- ip addr add ${l.cidr} dev ${ep.ifname}`]);
    const gw = ep.leases.find((l) => l.family === 4 && l.gateway)?.gateway;
    if (net && !net.internal && gw && !(await c.routeList({ family: 4 })).some((r) => r.dst === 'default')) out.push([`${ep.containerName} has no default route`, `tsnet nsenter ${ep.containerId.slice(0, 12)} -- ip route add default via ${gw}`]);
    return out;
  });
  for (const [message, fix] of problems) bad(message, fix);
  if (problems.length === 0) report({ check: 'endpoint', subject, ok: true, message: `${ep.ifname} up with ${ep.leases.map((l) => l.cidr).join(', ') || 'no address'}` });
}

async function checkFirewall(env: Env, nets: NetworkRecord[], report: Report): Promise<void> {
  const bridges = nets.filter((n) => (n.driver === 'bridge' || n.driver === 'overlay') && n.device).flatMap((n) => [n.device!, ...(n.overlay ? [n.overlay.vxlanDev] : [])]);
  if (bridges.length === 0 || env.firewall.name === 'none') return;
  let missing: string[];
  if (env.firewall.name === 'nftables') {
    const r = await run(['nft', 'list', 'table', 'inet', firewallName()], { check: false });
    missing = r.code !== 0 ? bridges : bridges.filter((b) => !r.stdout.includes(`"${b}"`));
  } else {
    const save = (await run(['iptables-save'], { check: false })).stdout;
    missing = save.includes(`-A FORWARD -j ${chainPrefix()}FORWARD`) ? bridges.filter((b) => !save.includes(` ${b} `)) : bridges;
  }
  const ipt = await iptablesInfo();
  const w = watcherStatus(env.store.root);
  report({ check: 'firewall-host', subject: ipt.variant, ok: true, message: `tsnet backend ${env.firewall.name}; iptables is ${ipt.variant === 'none' ? 'not installed' : `iptables-${ipt.variant}${ipt.version ? ` (${ipt.version})` : ''}`}; firewall watcher ${w.running ? `running (pid ${w.pid ?? '?'})` : 'not running (tsnet firewall watch, or tsnet firewall reload after a flush)'}` });
  report({ check: 'firewall', subject: env.firewall.name, ok: missing.length === 0, message: missing.length === 0 ? `${env.firewall.name} rules present for ${bridges.join(', ')}` : `tsnet's ${env.firewall.name} rules are missing for ${missing.join(', ')}: no isolation, NAT or published ports there`, fix: 'tsnet doctor --fix (re-applies the whole rule set)' });
  if ((await IptablesBackend.forwardPolicy()) === 'DROP') {
    const save = (await run(['iptables-save', '-t', 'filter'], { check: false })).stdout;
    const ok = save.includes(`-j ${chainPrefix()}FORWARD`);
    report({ check: 'forward-policy', subject: 'FORWARD', ok, message: ok ? `FORWARD policy is DROP (Docker) and tsnet's accept rules are in place` : `the iptables FORWARD policy is DROP (Docker sets it) and tsnet's accept rules are not there: forwarded traffic of tsnet networks is dropped`, fix: 'tsnet doctor --fix' });
  }
}

async function checkPorts(eps: EndpointRecord[], report: Report): Promise<void> {
  for (const ep of eps) {
    for (const p of ep.ports) {
      if (await portFree(p.proto, p.hostIp, p.hostPort)) continue;
      const who = await portOwner(p.proto, p.hostPort);
      report({ check: 'port', subject: `${p.hostPort}/${p.proto}`, ok: false, message: `host port ${p.hostPort}/${p.proto}, published for ${ep.containerName}, is also held by ${who ?? 'another program'}: with tsnet's DNAT that program receives nothing on it`, fix: `stop ${who ?? 'that program'} or publish another port` });
    }
  }
}

async function checkOverlaps(env: Env, nets: NetworkRecord[], report: Report): Promise<void> {
  const own = new Set(env.store.networks().map((n) => n.device).filter(Boolean));
  const host = (await hostSubnets(env.k.host)).filter((t) => !(t.dev && own.has(t.dev)));
  for (const n of nets.filter((x) => x.driver === 'bridge')) {
    for (const s of n.subnets) {
      const hit = host.find((t) => overlaps(t.cidr, s.subnet));
      if (hit) report({ check: 'overlap', subject: n.name, ok: false, message: `subnet ${s.subnet} of ${n.name} overlaps ${hit.owner} (a VPN or LAN?): traffic to those addresses goes one way or the other`, fix: `recreate ${n.name} with a --subnet that overlaps nothing` });
    }
  }
}

function checkDns(env: Env, nets: NetworkRecord[], eps: EndpointRecord[], report: Report): void {
  const needs = nets.filter((n) => hasDns(n) && eps.some((e) => e.network === n.name));
  if (needs.length === 0) return;
  const st = dnsStatus(env.store);
  report({ check: 'dns', subject: 'resolver', ok: st.running, message: st.running ? `resolver running (pid ${st.pid})` : `the resolver of ${needs.map((n) => n.name).join(', ')} is not running: names do not resolve`, fix: 'any tsnet command restarts it (e.g. tsnet network ls), or tsnet doctor --fix' });
  for (const ep of eps.filter((e) => needs.some((n) => n.name === e.network))) {
    const c = findContainer(env.store, ep.containerId);
    if (!c?.netns) continue;
    const file = `${netnsEtcDir(c.netns)}/resolv.conf`;
    const gw = env.store.network(ep.network)!.subnets[0]!.gateway;
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (!text.includes(`nameserver ${gw}`)) report({ check: 'dns', subject: c.name, ok: false, message: `${c.name}'s resolv.conf does not point at the resolver ${gw}`, fix: `tsnet rm -f ${c.name} and run it again` });
  }
}

async function checkLeases(env: Env, nets: NetworkRecord[], report: Report): Promise<void> {
  for (const n of nets) {
    const eps = env.store.endpoints(n.name);
    for (const l of env.store.ipam(n.name).leases()) {
      if (!eps.some((e) => e.containerId === l.key.id && (l.key.ifname === '' || e.ifname === l.key.ifname))) {
        report({ check: 'lease', subject: n.name, ok: false, message: `address ${l.ip} of ${n.name} is leased to ${l.key.id}/${l.key.ifname}, which has no endpoint: stale state`, fix: 'tsnet doctor --fix (releases leases without endpoints)' });
      }
    }
  }
}

/** Runs every check over the networks (and their endpoints) in scope. */
async function check(env: Env, scope?: string, onProgress?: OnProgress): Promise<Finding[]> {
  const all = env.store.networks();
  const scopedEps = (n: NetworkRecord) => env.store.endpoints(n.name).filter((e) => !scope || n.name === scope || e.containerName === scope || e.containerId.startsWith(scope));
  const nets = scope ? all.filter((n) => n.name === scope || scopedEps(n).length > 0) : all;
  const eps = nets.flatMap(scopedEps);
  const findings: Finding[] = [];
  const report: Report = (f) => findings.push(f);
  // Steps: forwarding, bridges, each endpoint, firewall, ports, overlaps, DNS, leases, orphans.
  const total = eps.length + 8;
  let done = 0;
  const step = (what: string) => onProgress?.(done++, total, what);
  step('forwarding');
  await checkForwarding(env, nets, report);
  step('bridges');
  await checkBridges(env, nets, report);
  for (const ep of eps) {
    step(`endpoint ${ep.containerName} on ${ep.network}`);
    await checkEndpoint(env, ep, env.store.network(ep.network), report);
  }
  step('firewall');
  await checkFirewall(env, nets, report);
  step('published ports');
  await checkPorts(eps, report);
  step('overlaps');
  await checkOverlaps(env, nets, report);
  step('DNS');
  checkDns(env, nets, eps, report);
  step('leases');
  await checkLeases(env, nets, report);
  for (const f of await overlayFindings(env, nets)) report(f);
  step('orphans');
  if (!scope) for (const o of await findOrphans(env)) report({ check: 'orphan', subject: o.subject, ok: false, message: `${o.message}: stale state`, fix: 'tsnet doctor --fix (removes what died half-way)' });
  onProgress?.(total, total, '');
  return findings;
}

/** `tsnet doctor [SCOPE] [--fix]`: the usual checklist; --fix re-applies what tsnet owns, then checks again. */
export async function runDoctor(env: Env, scope?: string, fix = false, onProgress?: OnProgress): Promise<Finding[]> {
  if (fix) {
    await env.store.locked(async () => {
      // What died half-way first (it may free leases and change the rule set), then the rest.
      for (const o of await findOrphans(env)) await o.remove().catch(() => undefined);
      await syncFirewall(env);
      for (const n of env.store.networks()) await gc(env.store.ipam(n.name), env.store.endpoints(n.name).map((e) => ({ id: e.containerId, ifname: e.ifname })));
    });
    await syncDns(env.store);
  }
  // A `tsnet trace` killed with -9 leaves its temporary table behind: removed here (and by the next trace).
  const stale = await removeStaleTraceTables().catch(() => [] as string[]);
  const findings = await check(env, scope, onProgress);
  if (stale.length > 0) findings.push({ check: 'trace', subject: 'host', ok: true, message: `removed the trace tables of killed tsnet trace runs: ${stale.map((t) => `inet ${t}`).join(', ')}` });
  return findings;
}

export const problemsIn = (f: Finding[]): Finding[] => f.filter((x) => !x.ok);
