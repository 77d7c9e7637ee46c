import { envVar } from '../call/context.js';
import { firewallBackend, type FirewallBackend, type FirewallDriver } from '../firewall/backend.js';
import { Netlink } from '../kernel/netlink.js';
import { netnsOpen } from '../kernel/netns.js';
import { sysctlGet, sysctlSet } from '../kernel/sysctl.js';
import { StateStore } from '../state/store.js';
import type { KernelCtx } from './driver.js';
import { overlayEnv, type OverlayEnv } from './drivers/overlay-env.js';
import type { StoreTls } from './drivers/overlay-url.js';

/** What every network operation works with: the state, the kernel and the firewall (and the overlay store, when the host points at one). */
export interface Env {
  store: StateStore;
  k: KernelCtx;
  firewall: FirewallBackend;
  /** The overlay store this host points at, opened on first use; undefined when it points at none. */
  overlay?: OverlayEnv;
  close(): void;
}

/**
 * The real kernel context: netlink handles and sysctl in the namespace tsnet runs in. The host
 * handle is opened on first use, so read-only commands never load the netlink addon.
 */
export function kernelCtx(): KernelCtx & { close(): void } {
  let host: Netlink | undefined;
  const ns = (p?: string) => (p ? netnsOpen({ path: p }) : undefined);
  return {
    get host() {
      host ??= Netlink.open();
      return host;
    },
    open: (p) => Netlink.open(netnsOpen({ path: p })),
    sysctlGet: (key, p) => sysctlGet(key, ns(p)),
    sysctlSet: (key, value, p) => sysctlSet(key, value, ns(p)),
    close: () => host?.close(),
  };
}

/**
 * Opens the environment. The firewall driver is the one given, else the one recorded in the
 * state, else auto-detected; switching drivers clears the old one's rules first.
 */
export async function openEnv(opts: { stateDir?: string; firewallDriver?: FirewallDriver | 'auto'; store?: string; storeTls?: StoreTls } = {}): Promise<Env> {
  const store = new StateStore(opts.stateDir);
  const k = kernelCtx();
  const recorded = store.config().firewallDriver;
  const wanted = opts.firewallDriver ?? recorded ?? 'auto';
  const firewall = firewallBackend(wanted);
  if (recorded !== firewall.name) {
    await store.locked(async () => {
      if (recorded !== undefined) await firewallBackend(recorded).clear();
      store.saveConfig({ ...store.config(), firewallDriver: firewall.name });
    });
  }
  const overlay = await overlayEnv(store, opts.store ?? envVar('TSNET_STORE'), opts.storeTls);
  return {
    store,
    k,
    firewall,
    ...(overlay ? { overlay } : {}),
    close: () => {
      k.close();
      overlay?.close();
    },
  };
}
