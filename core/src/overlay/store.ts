import type { EtcdStoreOptions } from './store-etcd.js';
import { parseStoreUrl } from './store-url.js';
import type { OverlayStore } from './types.js';

export type StoreOptions = EtcdStoreOptions;

/**
 * Opens the overlay store a URL names (etcd:// or etcds://). The URL is checked first
 * (INVALID_ARGUMENT, nothing connects); the etcd client is loaded only here, so commands that
 * never open a store do not pay for it.
 */
export async function openStore(url: string, opts: StoreOptions = {}): Promise<OverlayStore> {
  parseStoreUrl(url);
  const { openEtcdStore } = await import('./store-etcd.js');
  return openEtcdStore(url, opts);
}
