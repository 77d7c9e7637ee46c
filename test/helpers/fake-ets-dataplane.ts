import type { DataplaneSpec, OverlayPeer, ReconcileReport } from '../../core/src/overlay/types.js';

/**
 * A fake data plane for the agent's tests: it keeps, per VXLAN device, the peers a real one
 * would have routes/neighbours/FDB entries for, and records every reconcile call and every
 * entry it removed. `addBogus` plants an entry by hand (the stale-FDB case).
 */
export class FakeDataplane {
  readonly calls: DataplaneSpec[] = [];
  readonly kernel = new Map<string, Map<string, OverlayPeer>>();
  /** Every entry removed, as "DEV HOST SUBNET". */
  readonly removals: string[] = [];
  readonly removedNetworks: string[] = [];

  readonly reconcile = async (spec: DataplaneSpec): Promise<ReconcileReport> => {
    this.calls.push(structuredClone(spec));
    const have = this.kernel.get(spec.vxlanDev) ?? new Map<string, OverlayPeer>();
    const want = new Map(spec.peers.map((p) => [`${p.host} ${p.subnet}`, p]));
    const added: string[] = [];
    const removed: string[] = [];
    for (const k of have.keys()) if (!want.has(k)) removed.push(`${spec.vxlanDev} ${k}`);
    for (const k of want.keys()) if (!have.has(k)) added.push(`${spec.vxlanDev} ${k}`);
    this.removals.push(...removed);
    this.kernel.set(spec.vxlanDev, want);
    return { added, removed };
  };

  readonly removed = async (network: string): Promise<void> => {
    this.removedNetworks.push(network);
  };

  addBogus(dev: string, p: OverlayPeer): void {
    const m = this.kernel.get(dev) ?? new Map<string, OverlayPeer>();
    m.set(`${p.host} ${p.subnet}`, p);
    this.kernel.set(dev, m);
  }

  peers(dev: string): string[] {
    return [...(this.kernel.get(dev)?.keys() ?? [])].sort();
  }
}
