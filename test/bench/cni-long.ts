import fs from 'node:fs';
import path from 'node:path';
import { run } from '../../core/src/exec.js';
import { CaseContext } from '../../conformance/src/context.js';
import { ok, ratio, sandbox, timed } from './cni-sandbox.js';
import { fmt, median } from './stats.js';

interface LongRun {
  adds: number[];
  dels: number[];
  leaks: string[];
  /** Packets the bridge delivered to containers per ADD (their veths' tx), over the first and the last 100 ADDs. */
  flood: { first: number; last: number };
}

/** Packets sent into the containers so far: the tx counters of the bridge's veth ports. */
async function deliveredToContainers(c: CaseContext): Promise<number> {
  const links = await c.hostJson<{ stats64?: { tx?: { packets?: number } } }[]>('-s', 'link', 'show', 'type', 'veth');
  return links.reduce((sum, l) => sum + (l.stats64?.tx?.packets ?? 0), 0);
}

/** Packets flooded per ADD over the first and the last 100 ADDs, from the counts at 100, n-100 and n. */
const floodPerAdd = (marks: Map<number, number>, n: number) => ({ first: (marks.get(100) ?? 0) / 100, last: ((marks.get(n) ?? 0) - (marks.get(n - 100) ?? 0)) / 100 });
const countedAt = (done: number, n: number): boolean => done === 100 || done === n - 100 || done === n;

/**
 * N sequential ADDs then N DELs, each container in its own namespace (as a runtime has them, all
 * made before the clock starts), plugins forked inside the private host (no `ip netns exec`, whose
 * cost grows with the number of namespaces: 7 ms with none, 15 ms with 1000): drift and leaks. The
 * same run for the reference plugins is the anchor: the kernel's own per-ADD cost grows with the
 * namespaces and interfaces present, whoever asks.
 */
async function longRun(dir: string, n: number): Promise<LongRun> {
  const { c, conf } = await sandbox(dir, {}, '10.242.0.0/20');
  try {
    const nss: string[] = [];
    for (let i = 0; i < n; i++) nss.push(await c.netns());
    await ok(c.exec('bridge', 'VERSION', conf), 'VERSION'); // the worker's start is not an ADD
    const adds: number[] = [];
    const dels: number[] = [];
    // Each new container's IPv6 link-local traffic (MLD reports, router solicitations: link-local
    // multicast, never snooped) is flooded by the bridge to every port: the kernel's work per ADD
    // grows with the containers already there, whoever runs the ADD. Counted at 100, n-100 and n.
    const marks = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      adds.push(await timed(() => ok(c.exec('bridge', 'ADD', conf, { containerId: `l${i}`, netns: nss[i]! }), `ADD ${i}`)));
      if (countedAt(i + 1, n)) marks.set(i + 1, await deliveredToContainers(c));
    }
    const flood = floodPerAdd(marks, n);
    for (let i = 0; i < n; i++) dels.push(await timed(() => ok(c.exec('bridge', 'DEL', conf, { containerId: `l${i}`, netns: nss[i]! }), `DEL ${i}`)));
    const leaks: string[] = [];
    const veths = await c.hostJson<unknown[]>('link', 'show', 'type', 'veth');
    if (veths.length > 0) leaks.push(`${veths.length} veths`);
    if (c.leases().length > 0) leaks.push(`${c.leases().length} leases`);
    const fwDir = path.join(c.stateDir, 'cni', 'fw');
    const recs = fs.existsSync(fwDir) ? fs.readdirSync(fwDir).filter((f) => f.endsWith('.json')) : [];
    if (recs.length > 0) leaks.push(`${recs.length} firewall records`);
    const nft = await run(['ip', 'netns', 'exec', c.host, 'nft', 'list', 'ruleset'], { check: false });
    const elements = (nft.stdout.match(/elements = \{[^}]*\}/gu) ?? []).join(' ');
    if (/\d+\.\d+\.\d+\.\d+/u.test(elements)) leaks.push(`nft elements left: ${elements.slice(0, 120)}`);
    const ipt = await run(['ip', 'netns', 'exec', c.host, 'iptables-save', '-t', 'nat'], { check: false });
    const chains = ipt.stdout.split('\n').filter((l) => /^:CNI-/u.test(l));
    if (chains.length > 0) leaks.push(`${chains.length} iptables CNI- chains`);
    return { adds, dels, leaks, flood };
  } finally {
    await c.cleanup();
  }
}

function longLine(label: string, l: LongRun): string {
  const first = median(l.adds.slice(0, 100));
  const last = median(l.adds.slice(-100));
  const left = l.leaks.length === 0 ? 'nothing (0 links, 0 leases, 0 records, 0 rules)' : l.leaks.join(', ');
  return `${label}: ADD median first 100 ${fmt(first)}, last 100 ${fmt(last)} (last/first ${ratio(last, first)}); DEL median first 100 ${fmt(median(l.dels.slice(0, 100)))}, last 100 ${fmt(median(l.dels.slice(-100)))}; packets flooded into containers per ADD: first 100 ${l.flood.first.toFixed(0)}, last 100 ${l.flood.last.toFixed(0)}; leaked: ${left}`;
}

/**
 * The kernel's own growth: the same N ADDs' kernel work as `ip -batch` (veth into the container's
 * namespace, master, up; address, up, default route inside), one namespace per container, all
 * made before the clock starts; the namespaces (and the veths with them) go at the end. Whatever
 * grows here grows for every plugin.
 */
async function floorLongRun(reference: string, n: number): Promise<{ adds: number[]; flood: { first: number; last: number } }> {
  const c = await CaseContext.create(reference, '1.0.0');
  try {
    const h = (...a: string[]) => run(['ip', '-n', c.host, ...a]);
    await h('link', 'add', c.bridge, 'type', 'bridge');
    await h('addr', 'add', '10.243.0.1/20', 'dev', c.bridge);
    await h('link', 'set', c.bridge, 'up');
    const nss: string[] = [];
    for (let i = 0; i < n; i++) nss.push(path.basename(await c.netns()));
    const adds: number[] = [];
    const marks = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const ns = nss[i]!;
      const ip = `10.243.${1 + Math.floor(i / 250)}.${2 + (i % 250)}`;
      adds.push(await timed(async () => {
        await run(['ip', '-n', c.host, '-batch', '-'], { input: `link add vf${i} type veth peer name eth0 netns ${ns}\nlink set vf${i} master ${c.bridge}\nlink set vf${i} up\n` });
        await run(['ip', '-n', ns, '-batch', '-'], { input: `addr add ${ip}/20 dev eth0\nlink set eth0 up\nroute add default via 10.243.0.1\n` });
      }));
      if (countedAt(i + 1, n)) marks.set(i + 1, await deliveredToContainers(c));
    }
    return { adds, flood: floodPerAdd(marks, n) };
  } finally {
    await c.cleanup();
  }
}

/** N sequential ADDs then DELs for tsnet (`dir`) and the reference, and the kernel floor's N ADDs, one after the other. */
export async function benchLongRun(dir: string, reference: string, n: number): Promise<void> {
  // Each run deletes its N namespaces at the end and the kernel tears them down in the background
  // for some seconds: the next run starts after a pause, not in the middle of that work.
  const settle = () => new Promise((r) => setTimeout(r, 15_000));
  const ours = await longRun(dir, n);
  await settle();
  const ref = await longRun(reference, n);
  await settle();
  const floor = await floorLongRun(reference, n);
  const g = (adds: number[]) => median(adds.slice(-100)) / median(adds.slice(0, 100));
  // The floor's ADD includes two `ip` starts that do not grow: the growth in milliseconds compares better.
  const d = (adds: number[]) => `+${fmt(median(adds.slice(-100)) - median(adds.slice(0, 100)))}`;
  console.log(`  ${n} sequential ADDs then DELs, one namespace per container:`);
  console.log(`    ${longLine('tsnet warm', ours)}`);
  console.log(`    ${longLine('reference ', ref)}`);
  console.log(`    kernel floor (ip -batch, ADDs only): ADD median first 100 ${fmt(median(floor.adds.slice(0, 100)))}, last 100 ${fmt(median(floor.adds.slice(-100)))} (last/first ${g(floor.adds).toFixed(2)}x); packets flooded into containers per ADD: first 100 ${floor.flood.first.toFixed(0)}, last 100 ${floor.flood.last.toFixed(0)}`);
  console.log(`    growth last/first: tsnet ${g(ours.adds).toFixed(2)}x (goal <= 1.2x), reference ${g(ref.adds).toFixed(2)}x, kernel floor ${g(floor.adds).toFixed(2)}x; in time: tsnet ${d(ours.adds)}, reference ${d(ref.adds)}, kernel floor ${d(floor.adds)}; last-100 ADD tsnet/reference ${ratio(median(ours.adds.slice(-100)), median(ref.adds.slice(-100)))}`);
}
