import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, TsnetError } from '../errors.js';
import { projectRoot } from './root.js';

/**
 * The native launcher (native/launcher.c, built by scripts/build-native.mjs) as installed files:
 * a copy whose configuration block names the Node binary and the installation root, and hard
 * links of it under every plugin name. native/PROTOCOL.md describes the block.
 */
const MARKER = Buffer.from('@@TSNET-LAUNCHER-CONFIG@@\n');
/** The whole block, marker included (CONFIG_SIZE in launcher.c). */
const BLOCK = 4096;

export interface LauncherConfig {
  /** The Node binary for the worker and the direct path. */
  node: string;
  /** The installation: core/dist/bundle, plugins/dist and worker/dist are under it. */
  root: string;
}

/**
 * The unconfigured launcher of this installation, native/build/tsnet-launcher. Found through
 * projectRoot(), so the answer is the same from core/src, core/dist and any bundle.
 */
export function launcherBinary(): string {
  const bin = path.join(projectRoot(), 'native', 'build', 'tsnet-launcher');
  if (!fs.existsSync(bin)) throw new TsnetError('NOT_FOUND', `no launcher at ${bin}: run npm run build (node scripts/build-native.mjs) first`, { bin });
  return bin;
}

/** `binary` with `cfg` written after its marker (the rest of the block zeroed). */
export function configureLauncher(binary: Buffer, cfg: LauncherConfig): Buffer {
  const at = binary.indexOf(MARKER);
  if (at < 0 || binary.indexOf(MARKER, at + 1) >= 0) {
    throw new InvalidArgumentError('the launcher binary has no configuration marker, or more than one', { found: at < 0 ? 0 : 'several' });
  }
  for (const [k, v] of Object.entries(cfg)) {
    // One value per line, and the launcher execs and joins them as they are: absolute paths only.
    if (typeof v !== 'string' || !path.isAbsolute(v) || /[\n\0]/u.test(v)) {
      throw new InvalidArgumentError(`launcher ${k} must be an absolute path without newline or NUL: ${JSON.stringify(v)}`, { [k]: v });
    }
  }
  const text = Buffer.from(`node=${cfg.node}\nroot=${cfg.root}\n\0`);
  if (MARKER.length + text.length > BLOCK || at + BLOCK > binary.length) {
    throw new InvalidArgumentError(`the launcher configuration (${text.length} bytes) does not fit its ${BLOCK - MARKER.length}-byte block`, { bytes: text.length });
  }
  const out = Buffer.from(binary);
  out.fill(0, at + MARKER.length, at + BLOCK);
  text.copy(out, at + MARKER.length);
  return out;
}

/** Puts a new file at `dest` atomically: `make` fills a temp name in the same dir, then rename. */
function replaceFile(dest: string, make: (tmp: string) => void): void {
  const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    make(tmp);
    fs.renameSync(tmp, dest);
  } finally {
    // Gone after a rename, except when tmp and dest were already links of one file: rename(2)
    // then does nothing and leaves both names (relinking an installed plugin name does that).
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Writes the launcher, configured with `cfg`, to `dest` (mode 0755), replacing it atomically.
 * `from`: the unconfigured launcher to copy (default launcherBinary()).
 */
export function writeLauncher(dest: string, cfg: LauncherConfig, from: string = launcherBinary()): void {
  const bytes = configureLauncher(fs.readFileSync(from), cfg);
  replaceFile(dest, (tmp) => {
    fs.writeFileSync(tmp, bytes, { mode: 0o755 });
    fs.chmodSync(tmp, 0o755); // the umask may have taken bits off
  });
}

/** Makes `dest` one more name of the launcher file `src` (a hard link), replacing it atomically. */
export function linkLauncher(src: string, dest: string): void {
  replaceFile(dest, (tmp) => fs.linkSync(src, tmp));
}
