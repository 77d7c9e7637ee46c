import fs from 'node:fs';
import path from 'node:path';
import { TsnetError } from '../errors.js';
import { linkLauncher, writeLauncher } from '../install/launcher.js';
import { projectRoot } from '../install/root.js';
import { ensurePrivateDir } from '../state/atomic.js';
import { envVar } from '../call/context.js';
import type { OnProgress } from '../progress.js';

/** Bundles beside the plugins' that are libraries, not plugins: the etcd client (scripts/bundle.mjs). */
const LIBRARY_BUNDLES = new Set(['etcd3']);

/** Where the bundled plugins live: <root>/plugins/dist. */
export const pluginDistDir = (): string => path.join(projectRoot(), 'plugins', 'dist');

/**
 * `tsnet cni install --dir DIR`: the native launcher under every plugin name (one file, hard
 * links), configured with this Node and this installation. Each call then goes to the warm worker
 * of its environment, or runs the bundled plugin directly when no worker can be had.
 * Returns the written paths; existing files of the same names are replaced atomically.
 * `onProgress`: one step per plugin name written.
 */
export function installPlugins(dir: string, only?: string[], onProgress?: OnProgress): string[] {
  const dist = pluginDistDir();
  if (!fs.existsSync(dist)) throw new TsnetError('NOT_FOUND', `no built plugins in ${dist}: run npm run build first`, { dist });
  const names = fs.readdirSync(dist).filter((f) => f.endsWith('.mjs')).map((f) => f.slice(0, -4)).filter((n) => !LIBRARY_BUNDLES.has(n) && (!only || only.includes(n)));
  if (names.length === 0) throw new TsnetError('NOT_FOUND', `no plugin named ${only?.join(', ')} in ${dist}`, { dist });
  ensurePrivateDir(dir);
  fs.chmodSync(dir, 0o755);
  const paths = names.map((n) => path.join(dir, n));
  onProgress?.(0, paths.length, names[0]!);
  writeLauncher(paths[0]!, { node: process.execPath, root: projectRoot() });
  for (const [i, p] of paths.entries()) {
    if (i === 0) continue;
    onProgress?.(i, paths.length, names[i]!);
    linkLauncher(paths[0]!, p);
  }
  onProgress?.(paths.length, paths.length, '');
  return paths;
}

/**
 * A conflist that attaches a runtime to the tsnet network `network` (tsnet cni conflist NET).
 * It is self-contained: a state dir or firewall name other than the defaults is written into it
 * (`stateDir`, `firewallName`), because runtimes may call DEL from processes without our
 * environment (podman's cleanup runs from conmon).
 */
export function conflistFor(network: string, stateDir?: string): Record<string, unknown> {
  const plugin: Record<string, unknown> = { type: 'tsnet', network, capabilities: { portMappings: true, ips: true } };
  if (stateDir && stateDir !== '/var/lib/tsnet') plugin['stateDir'] = stateDir;
  const fw = envVar('TSNET_FIREWALL_NAME');
  if (fw && fw !== 'tsnet') plugin['firewallName'] = fw;
  return { cniVersion: '1.0.0', name: network, plugins: [plugin] };
}
