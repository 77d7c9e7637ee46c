// Bundles each executable entry into one ESM file with esbuild (native addons stay external):
// the tsnet CLI, the warm worker, and every CNI plugin in plugins/<name>/index.ts -> plugins/dist/<name>.mjs.
import fs from 'node:fs';
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
    define: { __TSNET_VERSION__: JSON.stringify(version) },
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'warning',
  }),
));
