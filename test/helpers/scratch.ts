import { randomBytes } from 'node:crypto';
import { onTestFinished } from 'vitest';
import { Netlink, netnsCreate, netnsDestroy, run, type NetnsRef } from '../../core/src/index.js';

/** A short unique token (fits interface names: prefix + 6 hex chars). */
export const uid = (): string => randomBytes(3).toString('hex');

/**
 * This test run's ID (set by the global setup): every namespace a test makes is named
 * tsnet-test-RUN-..., so the leak check judges only this run's, even beside another run.
 */
export const RUN = process.env['TSNET_TEST_RUN'] ?? 'x';

/** A unique namespace name for a test: tsnet-test-RUN-TAG-XXXXXX. */
export const testName = (tag: string): string => `tsnet-test-${RUN}-${tag}-${uid()}`;

export const isRoot = process.getuid?.() === 0;

/** A namespace made for one test; deleted (with every link in it) when the test ends, pass or fail. */
export interface Scratch {
  ns: NetnsRef;
  name: string;
  nl: Netlink;
}

export function scratchNetns(tag = 'ns'): Scratch {
  const name = testName(tag);
  const ns = netnsCreate(name);
  const nl = Netlink.open(ns);
  onTestFinished(() => {
    nl.close();
    netnsDestroy(name);
  });
  return { ns, name, nl };
}

/** Deletes a namespace a test made, after killing what runs in it; quiet when already gone. */
export async function dropNetns(ns: string): Promise<void> {
  netnsDestroy(ns);
}

/** Independent observer: `ip -n NS -j ARGS...` parsed. */
export async function ipj<T = unknown>(ns: string, ...args: string[]): Promise<T> {
  const r = await run(['ip', '-n', ns, '-j', ...args]);
  return JSON.parse(r.stdout || '[]') as T;
}

/** Runs argv inside a named namespace (observer side: ping, sysctl). */
export const inNs = (ns: string, argv: string[], check = true) =>
  run(['ip', 'netns', 'exec', ns, ...argv], { check });

/** The iproute2 arguments that make a link of each kind in the probe namespace (p0 is a veth). */
const PROBE: Record<ProbeKind, string[]> = {
  ipvlan: ['link', 'add', 'k0', 'link', 'p0', 'type', 'ipvlan'],
  dummy: ['link', 'add', 'k0', 'type', 'dummy'],
  vlan: ['link', 'add', 'k0', 'link', 'p0', 'type', 'vlan', 'id', '5'],
  vrf: ['link', 'add', 'k0', 'type', 'vrf', 'table', '10'],
  /** Not a kind: bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING, which needs CONFIG_VLAN_8021Q). */
  'bridge-vlan': ['link', 'add', 'k0', 'type', 'bridge', 'vlan_filtering', '1'],
};
export type ProbeKind = 'ipvlan' | 'dummy' | 'vlan' | 'vrf' | 'bridge-vlan';

/**
 * Whether a link kind exists in this kernel, asked through iproute2 (not through tsnet),
 * in a throwaway namespace. Inside the test VM (test/helpers/vm.ts) every kind must exist:
 * there a missing one throws, so its tests fail instead of being skipped.
 */
export async function kernelHasLinkKind(kind: ProbeKind): Promise<boolean> {
  if (!isRoot) return false;
  const ns = `tsnet-probe-${uid()}`;
  await run(['ip', 'netns', 'add', ns]);
  try {
    await run(['ip', '-n', ns, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
    const r = await run(['ip', '-n', ns, ...PROBE[kind]], { check: false });
    if (r.code !== 0 && process.env['TSNET_IN_VM'] === '1') {
      throw new Error(`the test VM's kernel lacks ${kind}: ip ${PROBE[kind].join(' ')}: ${r.stderr.trim()}`);
    }
    return r.code === 0;
  } finally {
    await run(['ip', 'netns', 'del', ns]);
  }
}
