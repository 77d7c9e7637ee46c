import { describe, expect, it, onTestFinished } from 'vitest';
import { run } from '../../core/src/index.js';
import { expectSameView, faultHost, hostView } from '../helpers/fault.js';
import { cniSoak, filesUnder, nftElements, workerFds } from '../helpers/fault-soak.js';
import { ipj, isRoot } from '../helpers/scratch.js';
import { testNetns as netns } from '../helpers/cni-bed.js';

/**
 * Repetition without leaks: 1,000 CNI ADD/DEL cycles (bridge + host-local + ipMasq through the
 * launcher and its warm worker) and 200 `tsnet run -d`/`tsnet rm -f` cycles, each judged at the
 * end by independent observers: links and addresses (ip -j) in the host and container
 * namespaces, lease and record files, nft set elements, the worker's open fds (/proc/PID/fd)
 * against their count after a warm-up, and for `run` the namespaces under /run/netns with its
 * prefix (the CNI soak makes none: CNI never creates a namespace, and the whole of /run/netns is
 * the machine's, changed meanwhile by other test files). Times: npm run bench soak.
 */
const CNI_CYCLES = Number(process.env['TSNET_SOAK_CNI'] ?? 1000);
const RUN_CYCLES = Number(process.env['TSNET_SOAK_RUN'] ?? 200);


type Link = { ifname: string; addr_info?: { local: string }[] };
const names = (ls: Link[]) => ls.map((l) => l.ifname).sort();
const addrs = (ls: Link[]) => ls.map((l) => `${l.ifname} ${(l.addr_info ?? []).map((a) => a.local).join(' ')}`).sort();

describe.skipIf(!isRoot)('soak (root)', () => {
  it(`${CNI_CYCLES} CNI ADD/DEL cycles: no link, address, lease, record, nft element or worker fd left`, async () => {
    const host = await netns('tfis');
    const ctr = await netns('tfisc');
    const s = cniSoak(host, ctr, { subnet: '10.233.41.0/24' });
    onTestFinished(() => s.cleanup());
    for (let i = 0; i < 10; i++) await s.cycle(i); // the bridge, the table, the worker
    const fds0 = workerFds(s.stateDir);
    expect(fds0, 'the warm worker serving the calls').toBeDefined();
    const links0 = names(await ipj<Link[]>(host, 'link'));
    const addrs0 = addrs(await ipj<Link[]>(host, 'addr'));
    for (let i = 10; i < CNI_CYCLES; i++) await s.cycle(i);
    expect(names(await ipj<Link[]>(host, 'link'))).toEqual(links0);
    expect(names(await ipj<Link[]>(host, 'link')).filter((n) => n.startsWith('veth'))).toEqual([]);
    expect(addrs(await ipj<Link[]>(host, 'addr'))).toEqual(addrs0);
    expect(names(await ipj<Link[]>(ctr, 'link'))).toEqual(['lo']);
    expect(filesUnder(s.dataDir).filter((f) => !/(^|\/)(lock|last_reserved_ip\.\d+)$/u.test(f))).toEqual([]);
    expect(filesUnder(s.stateDir).filter((f) => f.startsWith('cni/') && f.endsWith('.json'))).toEqual([]);
    expect(await nftElements(host)).toBe(0);
    const fds1 = workerFds(s.stateDir);
    expect(fds1?.pid, 'one worker served every call').toBe(fds0!.pid);
    expect(fds1!.fds, `worker fds: ${fds0!.fds} after warm-up, ${fds1!.fds} after ${CNI_CYCLES} cycles`).toBeLessThanOrEqual(fds0!.fds + 2);
  }, 240_000);

  it(`${RUN_CYCLES} tsnet run -d / rm -f cycles: the host, state dir, /run/netns and worker fds as after the first`, async () => {
    const h = await faultHost();
    const ok = async (...a: string[]) => {
      const r = await h.cli({}, ...a);
      if (r.code !== 0) throw new Error(`tsnet ${a.join(' ')}: ${r.stderr}`);
    };
    await ok('network', 'create', 'tfinet', '--subnet', '10.233.42.0/24');
    const cycle = async (i: number) => {
      await ok('run', '-d', '--network', 'tfinet', '--name', `soak${i}`, '-p', `${20000 + (i % 50)}:80`, '--', 'sleep', '1000');
      await ok('rm', '-f', `soak${i}`);
    };
    for (let i = 0; i < 5; i++) await cycle(i);
    const view0 = await hostView(h);
    const fds0 = workerFds(h.stateDir);
    expect(fds0).toBeDefined();
    for (let i = 5; i < RUN_CYCLES; i++) await cycle(i);
    expectSameView(view0, await hostView(h), `after ${RUN_CYCLES} run/rm cycles`);
    const fds1 = workerFds(h.stateDir);
    expect(fds1?.pid).toBe(fds0!.pid);
    expect(fds1!.fds, `worker fds: ${fds0!.fds} -> ${fds1!.fds}`).toBeLessThanOrEqual(fds0!.fds + 2);
  }, 240_000);
});
