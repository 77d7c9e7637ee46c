// Builds the native launcher (native/tsnet-launcher.c) with gcc, statically, into
// native/build/tsnet-launcher, and writes native/build/bin/tsnet: the launcher configured for
// this checkout (this Node, this root). Skips the compile when the binary is newer than the source.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const src = 'native/tsnet-launcher.c';
const out = 'native/build/tsnet-launcher';
fs.mkdirSync('native/build/bin', { recursive: true });
if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(src).mtimeMs) {
  try {
    execFileSync('gcc', ['-std=gnu11', '-static', '-Os', '-s', '-Wall', '-Wextra', '-Werror', '-o', out, src], { stdio: 'inherit' });
  } catch (e) {
    console.error(`build-launcher: gcc failed (${e.message}); scripts/install-deps.sh installs gcc and libc6-dev (static libc)`);
    process.exit(1);
  }
}
const { writeLauncher } = await import(path.resolve('core/dist/install/launcher-file.js'));
writeLauncher(path.resolve('native/build/bin/tsnet'), { node: process.execPath, root: path.resolve('.') });
