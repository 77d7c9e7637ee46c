// Builds the native launcher: native/launcher.c -> native/build/tsnet-launcher (static, stripped,
// unconfigured), then native/build/bin/tsnet: that launcher configured for this checkout (this
// Node, this root). The compile is skipped when the binary is newer than the source and is the one
// this script built from it (a stamp beside it: the source's and flags' hash). Needs the compiled
// core (tsc -b core) for the configuring step. See native/README.md.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'native', 'launcher.c');
const out = path.join(root, 'native', 'build', 'tsnet-launcher');
const bin = path.join(root, 'native', 'build', 'bin', 'tsnet');
const stamp = `${out}.stamp`;
const FLAGS = ['-std=c11', '-static', '-Os', '-s', '-Wall', '-Wextra', '-Werror'];
const want = createHash('sha256').update(fs.readFileSync(src)).update(FLAGS.join(' ')).digest('hex');

function fail(msg) {
  console.error(`build-native: ${msg}`);
  process.exit(1);
}

const mtime = (p) => (fs.existsSync(p) ? fs.statSync(p).mtimeMs : -1);
const read = (p) => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '');
// Built from this source with these flags, and not replaced since (by another build writing there).
const upToDate = () => mtime(out) >= mtime(src) && read(stamp) === want && mtime(out) <= mtime(stamp);

function compile() {
  const probe = spawnSync('gcc', ['-print-file-name=libc.a'], { encoding: 'utf8' });
  if (probe.error) fail(`gcc not found (${probe.error.code}): install gcc and libc6-dev (scripts/install-deps.sh)`);
  // gcc answers with the bare name when it has no such file: no static libc to link with.
  if (!path.isAbsolute(probe.stdout.trim())) fail('no static libc (libc.a): install libc6-dev (scripts/install-deps.sh)');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  // A temp output renamed into place: a concurrent build or a running test never sees half a binary.
  const tmp = `${out}.${process.pid}.tmp`;
  const cc = spawnSync('gcc', [...FLAGS, '-o', tmp, src], { encoding: 'utf8' });
  if (cc.status !== 0) {
    fs.rmSync(tmp, { force: true });
    fail(`gcc failed on ${path.relative(root, src)}:\n${cc.stderr || cc.error?.message || ''}`);
  }
  fs.renameSync(tmp, out);
  fs.writeFileSync(stamp, want);
}

if (!upToDate()) compile();

const mod = path.join(root, 'core', 'dist', 'install', 'launcher.js');
if (!fs.existsSync(mod)) fail(`${path.relative(root, mod)} is missing: run tsc -b core first`);
const { writeLauncher } = await import(mod);
fs.mkdirSync(path.dirname(bin), { recursive: true });
writeLauncher(bin, { node: process.execPath, root });
