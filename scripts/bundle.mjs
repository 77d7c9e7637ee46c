// Bundles each executable entry into one ESM file with esbuild (native addons stay external):
// the tsnet CLI, the warm worker, and every CNI plugin in plugins/<name>/index.ts -> plugins/dist/<name>.mjs.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';

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

// `tsnet --version`: the package version and the commit it was built from (`git rev-parse --short
// HEAD`, "-dirty" when tracked files differ from it; "unknown" outside a git checkout).
const git = (...args) => {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
};
const commit = git('rev-parse', '--short', 'HEAD');
const dirty = commit && git('status', '--porcelain', '--untracked-files=no') ? '-dirty' : '';
const pkg = JSON.parse(fs.readFileSync('core/package.json', 'utf8'));
const version = `${pkg.version} (commit ${commit ? `${commit}${dirty}` : 'unknown'})`;

await Promise.all(entries.map((e) =>
  build({
    entryPoints: [e.in],
    outfile: e.out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['netlink', 'koffi'],
    define: { __TSNET_VERSION__: JSON.stringify(version) },
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'warning',
  }),
));
