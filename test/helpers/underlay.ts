import { onTestFinished } from 'vitest';
import { Netlink, netnsCreate, netnsDestroy, run, sysctlSet, type ExecResult, type NetnsRef } from '../../core/src/index.js';
import { testName } from './scratch.js';

/**
 * An underlay for overlay tests: N "hosts", each a network namespace with one veth (`dev`,
 * 10.228.X.(i+1)/16, default route via the underlay's router address) whose other end is a port
 * of one bridge living in an underlay namespace of its own. Nothing touches the root namespace.
 *
 *   underlay ns:  bridge PREFIXulbr (10.228.255.254/16)  ports PREFIXh0..PREFIXh(N-1)
 *   host i ns:    PREFIXul0 = 10.228.X.(i+1)/16, default via 10.228.255.254, lo up
 *
 * MTU (default 1500) is set on the bridge and both ends of every veth, for the DF tests.
 * Users: ovk (data plane), ets (etcd), ovd (driver) tests, each with its own prefix.
 */
export interface UnderlayHost {
  /** Index in `hosts`. */
  i: number;
  /** Namespace name (/run/netns). */
  ns: string;
  ref: NetnsRef;
  /** Netlink handle bound to the host namespace (closed on destroy). */
  nl: Netlink;
  /** The host's underlay device, e.g. "ovkul0". */
  dev: string;
  /** Its underlay address, e.g. "10.228.0.1". */
  address: string;
  /** Address with prefix, e.g. "10.228.0.1/16". */
  cidr: string;
  /** Runs argv in the host namespace with nsenter --net (mounts stay shared, unlike `ip netns exec`). */
  exec(argv: string[], check?: boolean): Promise<ExecResult>;
}

export interface Underlay {
  /** The namespace holding the bridge. */
  ns: string;
  bridge: string;
  /** The hosts' default gateway (on the bridge). */
  router: string;
  mtu: number;
  hosts: UnderlayHost[];
  /** Removes every namespace made (idempotent; underlay() calls it when the test ends). */
  destroy(): Promise<void>;
}

export interface UnderlayOptions {
  /** How many hosts (1-200). */
  hosts: number;
  /** Name prefix of the test's helper ("ovk", "ets", "ovd"): in namespace and link names. */
  prefix: string;
  /** Underlay MTU (default 1500). */
  mtu?: number;
  /** X of 10.228.X.Y (0-254, default 0): the hosts' addresses. */
  third?: number;
  /** net.ipv4.ip_forward in every host (default false: the code under test decides). */
  forwarding?: boolean;
}

const ROUTER = '10.228.255.254';

/** Builds the underlay; the caller must call destroy() (use underlay() inside a test). */
export async function createUnderlay(opts: UnderlayOptions): Promise<Underlay> {
  const { prefix } = opts;
  const mtu = opts.mtu ?? 1500;
  const third = opts.third ?? 0;
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > 200) throw new RangeError(`hosts ${opts.hosts} not in 1-200`);
  if (!/^[a-z]{2,5}$/u.test(prefix)) throw new RangeError(`prefix ${prefix} must be 2-5 lowercase letters`);
  const made: string[] = [];
  const handles: Netlink[] = [];
  let destroyed = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    for (const h of handles) h.close();
    for (const ns of made.reverse()) netnsDestroy(ns);
  };
  try {
    const ulName = testName(`${prefix}-ul`);
    const ulRef = netnsCreate(ulName);
    made.push(ulName);
    const ul = Netlink.open(ulRef);
    handles.push(ul);
    const bridge = `${prefix}ulbr`;
    await ul.linkAdd({ kind: 'bridge', name: bridge, mtu });
    await ul.addrAdd(bridge, `${ROUTER}/16`);
    await ul.linkSetUp(bridge);
    await ul.linkSetUp('lo');
    const hosts: UnderlayHost[] = [];
    for (let i = 0; i < opts.hosts; i++) {
      const ns = testName(`${prefix}-h${i}`);
      const ref = netnsCreate(ns);
      made.push(ns);
      const nl = Netlink.open(ref);
      handles.push(nl);
      const dev = `${prefix}ul0`;
      const port = `${prefix}h${i}`;
      await ul.linkAdd({ kind: 'veth', name: port, mtu, peer: { name: dev, mtu, netnsPath: ref.path } });
      await ul.linkSetMaster(port, bridge);
      await ul.linkSetUp(port);
      const address = `10.228.${third}.${i + 1}`;
      const cidr = `${address}/16`;
      await nl.addrAdd(dev, cidr);
      await nl.linkSetUp(dev);
      await nl.linkSetUp('lo');
      await nl.routeAdd({ dst: 'default', gateway: ROUTER, dev });
      if (opts.forwarding) sysctlSet('net/ipv4/ip_forward', '1', ref);
      hosts.push({
        i,
        ns,
        ref,
        nl,
        dev,
        address,
        cidr,
        exec: (argv, check = true) => run(['nsenter', `--net=/run/netns/${ns}`, ...argv], { check, timeoutMs: 60_000 }),
      });
    }
    return { ns: ulName, bridge, router: ROUTER, mtu, hosts, destroy };
  } catch (e) {
    await destroy();
    throw e;
  }
}

/** createUnderlay, removed when the current test ends (pass or fail). */
export async function underlay(opts: UnderlayOptions): Promise<Underlay> {
  const u = await createUnderlay(opts);
  onTestFinished(() => u.destroy());
  return u;
}

/**
 * A "container" namespace on host `h`: a veth whose host end `hostDev` is enslaved to `bridge`
 * (in h) and whose other end is eth0 with `cidr` and a default route via `gateway`; MTU `mtu`.
 * Removed with the underlay's destroy() when `u` is given, else when the test ends.
 */
export async function containerOn(
  h: UnderlayHost,
  o: { tag: string; bridge: string; hostDev: string; cidr: string; gateway: string; mtu: number },
  u?: Underlay,
): Promise<{ ns: string; exec(argv: string[], check?: boolean): Promise<ExecResult> }> {
  const ns = testName(o.tag);
  const ref = netnsCreate(ns);
  const cleanup = async (): Promise<void> => netnsDestroy(ns);
  if (u) {
    const prev = u.destroy;
    u.destroy = async () => {
      await cleanup();
      await prev();
    };
  } else {
    onTestFinished(cleanup);
  }
  await h.nl.linkAdd({ kind: 'veth', name: o.hostDev, mtu: o.mtu, peer: { name: 'eth0', mtu: o.mtu, netnsPath: ref.path } });
  await h.nl.linkSetMaster(o.hostDev, o.bridge);
  await h.nl.linkSetUp(o.hostDev);
  await Netlink.with(ref, async (c) => {
    await c.addrAdd('eth0', o.cidr);
    await c.linkSetUp('eth0');
    await c.linkSetUp('lo');
    await c.routeAdd({ dst: 'default', gateway: o.gateway, dev: 'eth0' });
  });
  return { ns, exec: (argv, check = true) => run(['nsenter', `--net=/run/netns/${ns}`, ...argv], { check, timeoutMs: 60_000 }) };
}
