import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, TsnetError } from '../errors.js';
import { projectRoot } from './root.js';

/**
 * The native launcher (native/tsnet-launcher.c, built by scripts/build-launcher.mjs) as files:
 * a copy with its configuration block filled in (which Node, which installation), and hard
 * links of it under every plugin name. See native/PROTOCOL.md for the block's format.
 */
const MARKER = Buffer.from('@@TSNET-LAUNCHER-CONFIG@@\n');
const BLOCK = 4096;

export interface LauncherConfig {
  node: string;
  root: string;
}

/** The unconfigured launcher of this installation. */
export function launcherBinary(): string {
  const bin = path.join(projectRoot(), 'native', 'build', 'tsnet-launcher');
  if (!fs.existsSync(bin)) throw new TsnetError('NOT_FOUND', `no launcher at ${bin}: run npm run build first`, { bin });
  return bin;
}

/** The launcher's bytes with `cfg` written into its configuration block. */
export function configuredLauncher(binary: Buffer, cfg: LauncherConfig): Buffer {
  const at = binary.indexOf(MARKER);
  if (at < 0 || binary.indexOf(MARKER, at + 1) >= 0) throw new InvalidArgumentError('launcher binary: the configuration marker is missing or not unique');
  for (const [k, v] of Object.entries(cfg)) {
    if (!path.isAbsolute(v) || /[\n\0]/u.test(v)) throw new InvalidArgumentError(`launcher ${k} must be an absolute path without newlines: ${JSON.stringify(v)}`);
  }
  const text = Buffer.from(`node=${cfg.node}\nroot=${cfg.root}\n\0`);
  if (MARKER.length + text.length > BLOCK) throw new InvalidArgumentError('launcher configuration does not fit its 4096-byte block');
  const out = Buffer.from(binary);
  out.fill(0, at + MARKER.length, at + BLOCK);
  text.copy(out, at + MARKER.length);
  return out;
}

/** Replaces `dest` atomically (temp file in the same dir + rename). */
function replace(dest: string, make: (tmp: string) => void): void {
  const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.tsnet-${randomBytes(4).toString('hex')}`);
  try {
    make(tmp);
    fs.renameSync(tmp, dest);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Writes a configured launcher to `dest` (mode 0755). */
export function writeLauncher(dest: string, cfg: LauncherConfig = { node: process.execPath, root: projectRoot() }): void {
  const bytes = configuredLauncher(fs.readFileSync(launcherBinary()), cfg);
  replace(dest, (tmp) => fs.writeFileSync(tmp, bytes, { mode: 0o755 }));
  fs.chmodSync(dest, 0o755);
}

/** Makes `dest` another name of the launcher at `src` (a hard link: one file, many names). */
export function linkLauncher(src: string, dest: string): void {
  replace(dest, (tmp) => fs.linkSync(src, tmp));
}
