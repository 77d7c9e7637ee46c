import { randomBytes } from 'node:crypto';
import { Netlink, netnsCreate, netnsDelete, run } from '../../core/src/index.js';
import { fmt, median, percentile } from './stats.js';

interface Path {
  setup(): Promise<void>;
  teardown(): Promise<void>;
}
interface Samples {
  setup: number[];
  teardown: number[];
  total: number[];
}

async function cycle(p: Path): Promise<[number, number]> {
  const t0 = performance.now();
  await p.setup();
  const t1 = performance.now();
  await p.teardown();
  return [t1 - t0, performance.now() - t1];
}

function record(s: Samples, [setup, teardown]: [number, number]): void {
  s.setup.push(setup);
  s.teardown.push(teardown);
  s.total.push(setup + teardown);
}

/**
 * bench/kernel: N cycles of "create veth into a namespace, set master, up, add address,
 * add default route, delete", through tsnet (in-process netlink) and through `ip` commands,
 * in one run, inside private namespaces (the machine's own interfaces are never touched).
 */
export async function benchKernel(cycles = 200): Promise<{ tsnetMedian: number; ipMedian: number; ratio: number }> {
  const tag = randomBytes(3).toString('hex');
  const hostName = `tsnet-bench-host-${tag}`;
  const ctrName = `tsnet-bench-ctr-${tag}`;
  const hostNs = netnsCreate(hostName);
  const ctrNs = netnsCreate(ctrName);
  const host = Netlink.open(hostNs);
  const ctr = Netlink.open(ctrNs);
  try {
    await host.linkAdd({ kind: 'bridge', name: 'br0' });
    await host.addrAdd('br0', '10.77.0.1/16');
    await host.linkSetUp('br0');
    await ctr.linkSetUp('lo');

    const tsnetPath: Path = {
      setup: async () => {
        await host.linkAdd({ kind: 'veth', name: 'h0', peer: { name: 'eth0', netnsPath: ctrNs.path } });
        await host.linkSetMaster('h0', 'br0');
        await host.linkSetUp('h0');
        await ctr.linkSetUp('eth0');
        await ctr.addrAdd('eth0', '10.77.0.2/16');
        await ctr.routeAdd({ dst: 'default', gateway: '10.77.0.1' });
      },
      teardown: () => host.linkDel('h0'),
    };
    const ip = (ns: string, ...args: string[]) => run(['ip', '-n', ns, ...args]);
    const ipPath: Path = {
      setup: async () => {
        await ip(hostName, 'link', 'add', 'h0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ctrName);
        await ip(hostName, 'link', 'set', 'h0', 'master', 'br0');
        await ip(hostName, 'link', 'set', 'h0', 'up');
        await ip(ctrName, 'link', 'set', 'eth0', 'up');
        await ip(ctrName, 'addr', 'add', '10.77.0.2/16', 'dev', 'eth0');
        await ip(ctrName, 'route', 'add', 'default', 'via', '10.77.0.1');
      },
      teardown: async () => {
        await ip(hostName, 'link', 'del', 'h0');
      },
    };

    // Warm both paths, then interleave in blocks so drift affects both alike.
    await cycle(tsnetPath);
    await cycle(ipPath);
    const t: Samples = { setup: [], teardown: [], total: [] };
    const i: Samples = { setup: [], teardown: [], total: [] };
    const block = 20;
    for (let done = 0; done < cycles; done += block) {
      const n = Math.min(block, cycles - done);
      for (let k = 0; k < n; k++) record(t, await cycle(tsnetPath));
      for (let k = 0; k < n; k++) record(i, await cycle(ipPath));
    }
    const tsnetMedian = median(t.total);
    const ipMedian = median(i.total);
    const ratio = ipMedian / tsnetMedian;
    const line = (label: string, a: number[], b: number[]) =>
      console.log(`  ${label.padEnd(34)} tsnet ${fmt(median(a))} (p90 ${fmt(percentile(a, 90))})  ip ${fmt(median(b))} (p90 ${fmt(percentile(b, 90))})  ratio ${(median(b) / median(a)).toFixed(1)}x`);
    console.log(`bench/kernel: ${cycles} cycles, medians; ratio = ip / tsnet (higher: tsnet faster)`);
    line('setup (veth, master, up, addr, route)', t.setup, i.setup);
    line('delete veth', t.teardown, i.teardown);
    line('whole cycle', t.total, i.total);
    console.log(`  whole-cycle ratio ${ratio.toFixed(1)}x; a veth delete is done for tsnet once the kernel has unlisted the pair (~1 ms); ip waits for the kernel's ack, sent after its RCU teardown (10-30 ms)`);
    return { tsnetMedian, ipMedian, ratio };
  } finally {
    host.close();
    ctr.close();
    netnsDelete(ctrName);
    netnsDelete(hostName);
  }
}
