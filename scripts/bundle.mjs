// Bundles each executable entry into one ESM file with esbuild (native addons stay external).
import { build } from 'esbuild';

const entries = [{ in: 'core/src/cli/main.ts', out: 'core/dist/bundle/tsnet.mjs' }];

for (const e of entries) {
  await build({
    entryPoints: [e.in],
    outfile: e.out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['netlink', 'koffi'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'warning',
  });
}
