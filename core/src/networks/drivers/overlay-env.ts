import type { OverlayStore } from '../../overlay/types.js';
import type { StateStore } from '../../state/store.js';
import { overlayDeps } from './overlay-deps.js';
import { parseStoreUrl, type StoreRef, type StoreTls } from './overlay-url.js';

/** The overlay store of one command: which one the host points at, opened only when used. */
export interface OverlayEnv {
  /** The parsed store reference (INVALID_ARGUMENT when the remembered one no longer checks). */
  ref(): StoreRef;
  store(): Promise<OverlayStore>;
  close(): void;
}

/**
 * The store a host points at: `--store URL` or TSNET_STORE (checked now, before any side effect,
 * and remembered in the state config with its TLS files), else the remembered one. Undefined when
 * neither: overlay networks then do not exist for this host.
 */
export async function overlayEnv(state: StateStore, given: string | undefined, tls: StoreTls = {}): Promise<OverlayEnv | undefined> {
  let ref: StoreRef | undefined;
  if (given !== undefined && given !== '') {
    const files = Object.keys(tls).length > 0 ? tls : given === state.config().store ? (state.config().storeTls ?? {}) : {};
    ref = parseStoreUrl(given, files);
    const cfg = state.config();
    if (cfg.store !== ref.url || JSON.stringify(cfg.storeTls ?? {}) !== JSON.stringify(ref.files)) {
      const r = ref;
      await state.locked(async () => {
        const now = state.config();
        const next = { ...now, store: r.url };
        if (Object.keys(r.files).length > 0) next.storeTls = r.files;
        else delete next.storeTls;
        state.saveConfig(next);
      });
    }
  } else if (state.config().store === undefined) {
    return undefined;
  }
  let opened: Promise<OverlayStore> | undefined;
  const getRef = (): StoreRef => (ref ??= parseStoreUrl(state.config().store!, state.config().storeTls ?? {}));
  return {
    ref: getRef,
    store: () => (opened ??= overlayDeps().openStore(getRef())),
    close: () => {
      // Closing drops the client's channels; nothing waits on it (a store that is down closes at once too).
      void opened?.then((s) => s.close()).catch(() => undefined);
    },
  };
}
