import fs from 'node:fs';
import path from 'node:path';
import { TsnetError } from '../errors.js';
import { projectRoot } from '../install/root.js';
import { ensurePrivateDir } from '../state/atomic.js';
import { envVar } from '../call/context.js';

/** Where the bundled plugins live: <root>/plugins/dist. */
export const pluginDistDir = (): string => path.join(projectRoot(), 'plugins', 'dist');

/**
 * `tsnet cni install --dir DIR`: one executable file per plugin, `#!/usr/bin/env node` plus an
 * import of the bundled plugin (which finds the native addons in this installation).
 * Returns the written paths. Existing files of the same name are replaced atomically.
 */
export function installPlugins(dir: string, only?: string[]): string[] {
  const dist = pluginDistDir();
  if (!fs.existsSync(dist)) throw new TsnetError('NOT_FOUND', `no built plugins in ${dist}: run npm run build first`, { dist });
  const names = fs.readdirSync(dist).filter((f) => f.endsWith('.mjs')).map((f) => f.slice(0, -4)).filter((n) => !only || only.includes(n));
  ensurePrivateDir(dir);
  fs.chmodSync(dir, 0o755);
  return names.map((name) => {
    const target = path.join(dir, name);
    const tmp = `${target}.tsnet-tmp`;
    fs.writeFileSync(tmp, `#!/usr/bin/env node\n// tsnet CNI plugin "${name}"\nimport ${JSON.stringify(path.join(dist, `${name}.mjs`))};\n`, { mode: 0o755 });
    fs.renameSync(tmp, target);
    return target;
  });
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
