import type { DataplaneSpec, OverlayStore } from '../../overlay/types.js';
import type { KernelCtx } from '../driver.js';
import { kickAgent } from './overlay-agent-start.js';
import type { StoreRef } from './overlay-url.js';

/**
 * What the overlay driver uses of the other overlay parts: the store (store-etcd.ts), the data
 * plane (dataplane.ts) and the agent's start. One seam, so the driver's logic runs in unit tests
 * with fakes (test/helpers/fake-ovd-*.ts) and the real parts are wired in one place (wire below).
 */
export interface OverlayDeps {
  openStore(ref: StoreRef): Promise<OverlayStore>;
  /** Creates or updates the network's devices (bridge with the gateway, VXLAN device) and makes its peer entries exactly `spec.peers`. */
  applyDataplane(k: KernelCtx, spec: DataplaneSpec): Promise<void>;
  /** Removes the network's devices and every entry on them. */
  removeDataplane(k: KernelCtx, spec: DataplaneSpec): Promise<void>;
  /** Makes sure this host's agent runs (started on demand, like the resolver) and has it look at the local state now. */
  kickAgent(stateRoot: string): Promise<void>;
}

/**
 * The real parts, loaded when first used (a command that never touches an overlay network never
 * loads the etcd client or the data plane code): the etcd store (overlay/store.ts) and the data
 * plane (overlay/dataplane.ts: devices ensured, then peer entries reconciled) on the host handle.
 */
let deps: OverlayDeps = {
  async openStore(ref) {
    const { openStore } = await import('../../overlay/store.js');
    return openStore(ref.url, ref.files);
  },
  async applyDataplane(k, spec) {
    const dp = await import('../../overlay/dataplane.js');
    await dp.ensureDataplane(k.host, spec);
    await dp.reconcileDataplane(k.host, spec);
  },
  async removeDataplane(k, spec) {
    const dp = await import('../../overlay/dataplane.js');
    await dp.removeDataplane(k.host, spec);
  },
  kickAgent,
};

export const overlayDeps = (): OverlayDeps => deps;

/** Replaces some of the parts (the real wiring at start, fakes in tests); returns the undo. */
export function setOverlayDeps(partial: Partial<OverlayDeps>): () => void {
  const before = deps;
  deps = { ...deps, ...partial };
  return () => {
    deps = before;
  };
}
