import fs from 'node:fs';
import path from 'node:path';
import type { OverlayEndpoint } from '../overlay/types.js';

/** Where the overlay agent mirrors the store, one file per network ($STATE/overlay/NETWORK.json). */
export const overlayMirrorDir = (stateRoot: string): string => path.join(stateRoot, 'overlay');

const isEndpoint = (x: unknown): x is OverlayEndpoint => {
  const e = x as Partial<OverlayEndpoint> | null;
  return !!e && typeof e.network === 'string' && typeof e.host === 'string' && typeof e.containerId === 'string' && typeof e.name === 'string' && Array.isArray(e.addresses) && Array.isArray(e.aliases);
};

/**
 * Every endpoint the agent's mirror holds (all hosts), for the resolver's zones: a local file read,
 * never a store call. A missing, half-written or foreign file contributes nothing.
 */
export function mirroredEndpoints(stateRoot: string): OverlayEndpoint[] {
  let names: string[];
  try {
    names = fs.readdirSync(overlayMirrorDir(stateRoot)).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
  } catch {
    return [];
  }
  const out: OverlayEndpoint[] = [];
  for (const n of names.sort()) {
    try {
      const doc = JSON.parse(fs.readFileSync(path.join(overlayMirrorDir(stateRoot), n), 'utf8')) as { endpoints?: unknown };
      if (Array.isArray(doc.endpoints)) out.push(...doc.endpoints.filter(isEndpoint));
    } catch {
      // not a mirror file (or being replaced): skipped
    }
  }
  return out;
}
