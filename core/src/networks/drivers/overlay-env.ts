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
 * The store a host points at: `--store URL` or TSNET_STORE (checked now, before any side effect),
 * else the remembered one. A given store is remembered in the state config, with its TLS files,
 * once it has answered a call: a mistyped or unreachable URL is not (the one remembered before
 * stays). Undefined when neither: overlay networks then do not exist for this host.
 */
export async function overlayEnv(state: StateStore, given: string | undefined, tls: StoreTls = {}): Promise<OverlayEnv | undefined> {
  let ref: StoreRef | undefined;
  let remember: (() => Promise<void>) | undefined;
  if (given !== undefined && given !== '') {
    const files = Object.keys(tls).length > 0 ? tls : given === state.config().store ? (state.config().storeTls ?? {}) : {};
    const r = (ref = parseStoreUrl(given, files));
    const cfg = state.config();
    if (cfg.store !== r.url || JSON.stringify(cfg.storeTls ?? {}) !== JSON.stringify(r.files)) {
      const save = async () => {
        const next = { ...state.config(), store: r.url };
        if (Object.keys(r.files).length > 0) next.storeTls = r.files;
        else delete next.storeTls;
        state.saveConfig(next);
      };
      // The first answer may come inside a locked section (a join): the lock is then ours already.
      remember = () => (state.holdsLock() ? save() : state.locked(save));
    }
  } else if (state.config().store === undefined) {
    return undefined;
  }
  let opened: Promise<OverlayStore> | undefined;
  const getRef = (): StoreRef => (ref ??= parseStoreUrl(state.config().store!, state.config().storeTls ?? {}));
  const open = async (): Promise<OverlayStore> => {
    const s = await overlayDeps().openStore(getRef());
    return remember ? rememberOnAnswer(s, remember) : s;
  };
  return {
    ref: getRef,
    store: () => (opened ??= open()),
    close: () => {
      // Closing drops the client's channels; nothing waits on it (a store that is down closes at once too).
      void opened?.then((s) => s.close()).catch(() => undefined);
    },
  };
}

/**
 * The store with `remember` run (once, awaited) after the first of its calls that succeeded,
 * before that call's result is handed on: what runs next (a join's agent) reads the config.
 */
function rememberOnAnswer(s: OverlayStore, remember: () => Promise<void>): OverlayStore {
  let once: Promise<void> | undefined;
  return new Proxy(s, {
    get(target, key, receiver) {
      const v: unknown = Reflect.get(target, key, receiver);
      if (typeof v !== 'function' || key === 'close') return v;
      return async (...args: unknown[]) => {
        const result: unknown = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        await (once ??= remember());
        return result;
      };
    },
  });
}
