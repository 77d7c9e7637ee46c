import { readMirrors } from '../overlay/mirror.js';
import type { OverlayEndpoint } from '../overlay/types.js';

const isEndpoint = (x: unknown): x is OverlayEndpoint => {
  const e = x as Partial<OverlayEndpoint> | null;
  return !!e && typeof e.network === 'string' && typeof e.host === 'string' && typeof e.containerId === 'string' && typeof e.name === 'string' && Array.isArray(e.addresses) && Array.isArray(e.aliases);
};

/**
 * Every endpoint the agent's mirror holds (all hosts), for the resolver's zones: a local file read,
 * never a store call. A missing, half-written or foreign file contributes nothing.
 */
export function mirroredEndpoints(stateRoot: string): OverlayEndpoint[] {
  return readMirrors(stateRoot).flatMap((m) => m.endpoints.filter(isEndpoint));
}
