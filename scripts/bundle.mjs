// Bundles each executable entry into one ESM file with esbuild (native addons stay external):
// the tsnet CLI, the warm worker, and every CNI plugin in plugins/<name>/index.ts -> plugins/dist/<name>.mjs.
// The etcd client (npm etcd3 with grpc-js and protobufjs, ~1.2 MB) is NOT in those bundles: it is its own
// file, etcd3.mjs, next to each of them, loaded by store-etcd.ts only when an overlay store is opened,
// so a command that needs no store starts as fast as before. etcd3 reads its .proto files at run time
// from `${__dirname}/../proto`: the bundle reads them from etcd3-proto/ next to it instead.
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { buildVersion } from './version.mjs';

const plugins = fs.readdirSync('plugins', { withFileTypes: true })
  .filter((d) => d.isDirectory() && fs.existsSync(`plugins/${d.name}/index.ts`))
  .map((d) => ({ in: `plugins/${d.name}/index.ts`, out: `plugins/dist/${d.name}.mjs` }));
const entries = [
  { in: 'core/src/cli/main.ts', out: 'core/dist/bundle/tsnet.mjs' },
  { in: 'core/src/dns/main.ts', out: 'core/dist/bundle/tsnet-dns.mjs' },
  { in: 'conformance/src/cli.ts', out: 'conformance/dist/cli.mjs' },
  { in: 'worker/main.ts', out: 'worker/dist/worker.mjs' },
  ...plugins,
];

// `tsnet --version`: the package version and the commit (scripts/version.mjs).
const version = buildVersion(process.cwd());

const banner = { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" };

// Main bundles: `import('./etcd-client.js')` (core/src/overlay/etcd-client.ts: etcd3 + cockatiel)
// stays a run-time import of ./etcd3.mjs in the same directory.
const etcd3External = {
  name: 'etcd3-external',
  setup(b) {
    b.onResolve({ filter: /(^etcd3$|\/etcd-client\.js$)/ }, () => ({ path: './etcd3.mjs', external: true }));
  },
};

// The etcd3 bundle: its one run-time file read (rpc.proto) points at etcd3-proto/ beside the bundle.
const protoNeedle = '`${__dirname}/../proto/rpc.proto`';
const etcd3Proto = {
  name: 'etcd3-proto',
  setup(b) {
    b.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, (args) => {
      const src = fs.readFileSync(args.path, 'utf8');
      if (!src.includes(protoNeedle)) throw new Error(`etcd3 changed how it finds rpc.proto (${args.path}): update scripts/bundle.mjs`);
      const fixed = src.replace(protoNeedle, '__tsnetEtcd3Proto');
      return { contents: fixed, loader: 'js' };
    });
  },
};
const etcd3Dirs = [...new Set(entries.map((e) => path.dirname(e.out)))];
const protoSrc = 'node_modules/etcd3/proto';

await Promise.all(etcd3Dirs.map(async (dir) => {
  await build({
    entryPoints: ['core/src/overlay/etcd-client.ts'],
    outfile: path.join(dir, 'etcd3.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    plugins: [etcd3Proto],
    banner: { js: `${banner.js} const __tsnetEtcd3Proto = __cr(import.meta.url)('node:path').join(new URL('.', import.meta.url).pathname, 'etcd3-proto', 'rpc.proto');` },
    logLevel: 'error',
  });
  fs.mkdirSync(path.join(dir, 'etcd3-proto'), { recursive: true });
  for (const f of fs.readdirSync(protoSrc)) fs.copyFileSync(path.join(protoSrc, f), path.join(dir, 'etcd3-proto', f));
}));

await Promise.all(entries.map((e) =>
  build({
    entryPoints: [e.in],
    outfile: e.out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // @viz-js/viz (Graphviz in WASM, 1.6 MB) bundles fine but would cost every start ~14 ms of
    // CPU; only `tsnet graph --format svg` loads it, from node_modules like the native addons.
    external: ['netlink', 'koffi', '@viz-js/viz'],
    plugins: [etcd3External],
    define: { __TSNET_VERSION__: JSON.stringify(version) },
    banner,
    logLevel: 'warning',
  }),
));
