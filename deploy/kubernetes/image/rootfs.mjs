#!/usr/bin/env node
// Assembles the root filesystem of the tsnet node image from this checkout's build, offline:
//   /opt/tsnet/RELEASE/   the release: Node (the build host's binary), the bundles (core/dist/bundle,
//                         plugins/dist, worker/dist, with core/bin/tsnet.mjs), the unconfigured launcher, the runtime
//                         node_modules (core's dependencies and theirs: the netlink and koffi
//                         addons), and lib/ with the ELF loader and every shared library ldd finds
//                         for node, the addons, libnftables (loaded by koffi) and the tools below.
//                         node and the tools are patched (patchelf) to use lib/'s loader and
//                         libraries, so the release runs where it is copied to the same path: in
//                         the container and, copied by the init container, on the node itself,
//                         where the CNI launchers exec it, whatever the node's own libc is.
//   /opt/tsnet/RELEASE-ID  the release's name; /opt/tsnet/current -> RELEASE
//   /usr/local/bin/tsnet  the launcher configured for the release; tsnet-* the image's scripts
//   /usr/sbin/nft, iptables-nft (xtables-nft-multi) and its names: the firewall code spawns them
//   /bin/busybox          sh and the coreutils the scripts use
// RELEASE is VERSION-HASH: the package version and 12 hex digits of a hash over every input file.
// Usage: node rootfs.mjs OUT_DIR   (prints the release name; run from anywhere, after npm run build)
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..');
const out = path.resolve(process.argv[2] ?? '');
if (!process.argv[2]) throw new Error('usage: rootfs.mjs OUT_DIR');
if (fs.existsSync(out) && fs.readdirSync(out).length > 0) throw new Error(`${out} is not empty`);

const need = (p, what) => {
  if (!fs.existsSync(p)) throw new Error(`missing ${what}: ${p} (run npm run build first)`);
  return p;
};
const which = (name) => {
  for (const d of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) if (fs.existsSync(path.join(d, name))) return path.join(d, name);
  throw new Error(`${name} is not installed on the build host (scripts/install-deps.sh installs it)`);
};

// 1. What goes into the release, as [source, path inside the release].
const files = [];
const addTree = (src, rel) => {
  const st = fs.statSync(src);
  if (st.isDirectory()) {
    for (const e of fs.readdirSync(src).sort()) addTree(path.join(src, e), path.join(rel, e));
  } else if (st.isFile()) {
    files.push([src, rel]);
  }
};
files.push([fs.realpathSync(process.execPath), 'bin/node']);
files.push([need(path.join(repo, 'core/package.json'), 'core/package.json'), 'core/package.json']);
// The Node entry detached helpers are started with (the overlay agent on demand, the firewall watcher).
files.push([need(path.join(repo, 'core/bin/tsnet.mjs'), 'core/bin/tsnet.mjs'), 'core/bin/tsnet.mjs']);
for (const d of ['core/dist/bundle', 'plugins/dist', 'worker/dist']) addTree(need(path.join(repo, d), d), d);
files.push([need(path.join(repo, 'native/build/tsnet-launcher'), 'the native launcher'), 'native/build/tsnet-launcher']);

// Runtime packages: core's dependencies and theirs (optional ones when installed), as they lie
// under node_modules. Type-only packages are left out.
const findPkg = (name, from) => {
  for (let d = from; ; d = path.dirname(d)) {
    const p = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(p, 'package.json'))) return p;
    if (d === path.dirname(d)) return undefined;
  }
};
const pkgDirs = new Set();
const visit = (dir) => {
  const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const deps = { ...(pj.dependencies ?? {}), ...(pj.optionalDependencies ?? {}) };
  for (const name of Object.keys(deps).sort()) {
    if (name.startsWith('@types/')) continue;
    const p = findPkg(name, dir);
    if (!p) {
      if (pj.optionalDependencies?.[name]) continue;
      throw new Error(`${name} (a dependency of ${dir}) is not installed: run npm ci`);
    }
    const real = fs.realpathSync(p);
    if (pkgDirs.has(real)) continue;
    pkgDirs.add(real);
    visit(real);
  }
};
visit(path.join(repo, 'core'));
for (const d of [...pkgDirs].sort()) {
  const rel = path.relative(repo, d);
  if (rel.startsWith('..') || !rel.startsWith('node_modules')) throw new Error(`package outside the checkout: ${d}`);
  for (const f of listPackage(d)) files.push([f, path.relative(repo, f)]);
}
function listPackage(dir) {
  const acc = [];
  const walk = (p) => {
    for (const e of fs.readdirSync(p, { withFileTypes: true })) {
      const f = path.join(p, e.name);
      if (e.isDirectory()) {
        if (e.name === 'node_modules') continue; // nested packages are visited as dependencies
        walk(f);
      } else if (e.isFile()) acc.push(f);
    }
  };
  walk(dir);
  return acc.sort();
}

// Tools the code spawns (firewall backends, doctor) and their helpers.
const tools = [[which('nft'), 'usr/sbin/nft'], [which('xtables-nft-multi'), 'usr/sbin/xtables-nft-multi']];
const xtablesDir = '/usr/lib/x86_64-linux-gnu/xtables';

// 2. Shared libraries: ldd of node, the addons, libnftables (koffi loads it by name), the tools
// and the xtables extensions (iptables loads them by name).
const elfInputs = [process.execPath, ...files.filter(([s]) => s.endsWith('.node') && /linux[-_]x64/u.test(s) && !/musl/u.test(s)).map(([s]) => s), ...tools.map(([s]) => s)];
const libnft = ['/usr/lib/x86_64-linux-gnu/libnftables.so.1', '/lib/x86_64-linux-gnu/libnftables.so.1'].find((p) => fs.existsSync(p));
if (!libnft) throw new Error('libnftables.so.1 is not installed on the build host (package libnftables1, with nftables)');
elfInputs.push(libnft);
const xtExt = fs.existsSync(xtablesDir) ? fs.readdirSync(xtablesDir).filter((f) => f.endsWith('.so')).sort().map((f) => path.join(xtablesDir, f)) : [];
elfInputs.push(...xtExt);
const libs = new Map(); // soname -> real path
let loader;
for (const f of elfInputs) {
  const text = execFileSync('ldd', [f], { encoding: 'utf8' });
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+) => (\/\S+) \(/u.exec(line);
    if (m) libs.set(m[1], fs.realpathSync(m[2]));
    const l = /^\s*(\/\S*ld-linux\S*) \(/u.exec(line);
    if (l) loader = { name: path.basename(l[1]), path: fs.realpathSync(l[1]) };
    if (/not found/u.test(line)) throw new Error(`ldd ${f}: ${line.trim()}`);
  }
}
if (!loader) throw new Error('ldd named no ELF loader for node');
libs.set(path.basename(libnft), fs.realpathSync(libnft));
for (const [soname, real] of [...libs].sort()) files.push([real, `lib/${soname}`]);
files.push([loader.path, `lib/${loader.name}`]);
for (const f of xtExt) files.push([f, `lib/xtables/${path.basename(f)}`]);
for (const [src, dest] of tools) files.push([src, `tools/${path.basename(dest)}`]);

// 3. The release name: version and a hash of every input (path and bytes).
const h = createHash('sha256');
for (const [src, rel] of files) h.update(`${rel}\0`).update(fs.readFileSync(src)).update('\0');
const version = JSON.parse(fs.readFileSync(path.join(repo, 'core/package.json'), 'utf8')).version;
const release = `${version}-${h.digest('hex').slice(0, 12)}`;
const relRoot = `/opt/tsnet/${release}`;
const R = path.join(out, relRoot);

// 4. Write it.
fs.mkdirSync(out, { recursive: true });
for (const [src, rel] of files) {
  const dest = path.join(R, rel);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.copyFileSync(src, dest);
  fs.chmodSync(dest, fs.statSync(src).mode & 0o777);
}
const interp = `${relRoot}/lib/${loader.name}`;
const patch = (bin) => execFileSync('patchelf', ['--set-interpreter', interp, '--force-rpath', '--set-rpath', `${relRoot}/lib`, bin]);
try {
  patch(path.join(R, 'bin/node'));
  for (const [, dest] of tools) patch(path.join(R, 'tools', path.basename(dest)));
} catch (e) {
  throw new Error(`patchelf failed (is it installed? scripts/install-deps.sh installs it): ${e instanceof Error ? e.message : String(e)}`);
}
fs.writeFileSync(path.join(out, 'opt/tsnet/RELEASE-ID'), `${release}\n`);
fs.symlinkSync(release, path.join(out, 'opt/tsnet/current'));

// The CLI: the launcher configured for the release (core's own installer writes the block).
const { writeLauncher } = await import(path.join(repo, 'core/dist/install/launcher.js'));
fs.mkdirSync(path.join(out, 'usr/local/bin'), { recursive: true });
fs.mkdirSync(path.join(R, 'bin'), { recursive: true });
writeLauncher(path.join(R, 'bin/tsnet'), { node: `${relRoot}/bin/node`, root: relRoot }, path.join(R, 'native/build/tsnet-launcher'));
fs.symlinkSync(`${relRoot}/bin/tsnet`, path.join(out, 'usr/local/bin/tsnet'));
for (const s of ['install-cni', 'write-conflist', 'agent', 'health']) {
  fs.copyFileSync(path.join(here, `${s}.sh`), path.join(out, `usr/local/bin/tsnet-${s}`));
  fs.chmodSync(path.join(out, `usr/local/bin/tsnet-${s}`), 0o755);
}

// Tools under their usual names (the worker's PATH is fixed: /usr/sbin is on it).
fs.mkdirSync(path.join(out, 'usr/sbin'), { recursive: true });
fs.symlinkSync(`${relRoot}/tools/nft`, path.join(out, 'usr/sbin/nft'));
fs.symlinkSync(`${relRoot}/tools/xtables-nft-multi`, path.join(out, 'usr/sbin/xtables-nft-multi'));
for (const n of ['iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'ip6tables-save', 'ip6tables-restore']) {
  for (const name of [n, n.replace(/^(ip6?tables)/u, '$1-nft')]) {
    if (!fs.existsSync(path.join(out, 'usr/sbin', name))) fs.symlinkSync('xtables-nft-multi', path.join(out, 'usr/sbin', name));
  }
}

// busybox: /bin/sh and the coreutils of the scripts.
fs.mkdirSync(path.join(out, 'bin'), { recursive: true });
fs.copyFileSync(which('busybox'), path.join(out, 'bin/busybox'));
fs.chmodSync(path.join(out, 'bin/busybox'), 0o755);
const applets = execFileSync(path.join(out, 'bin/busybox'), ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
for (const a of applets) if (!fs.existsSync(path.join(out, 'bin', a))) fs.symlinkSync('busybox', path.join(out, 'bin', a));

// /etc: root only, and the protocol/service names iptables and nft print.
fs.mkdirSync(path.join(out, 'etc'), { recursive: true });
fs.writeFileSync(path.join(out, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
fs.writeFileSync(path.join(out, 'etc/group'), 'root:x:0:\n');
for (const f of ['protocols', 'services', 'ethertypes']) if (fs.existsSync(`/etc/${f}`)) fs.copyFileSync(`/etc/${f}`, path.join(out, 'etc', f));
for (const d of ['tmp', 'root', 'run', 'var/lib/tsnet', 'etc/tsnet/store']) fs.mkdirSync(path.join(out, d), { recursive: true });
fs.chmodSync(path.join(out, 'tmp'), 0o1777);

process.stdout.write(`${release}\n`);
