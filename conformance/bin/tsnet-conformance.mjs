#!/usr/bin/env node
// The CNI conformance suite: the esbuild bundle when built, else the sources through tsx.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/cli.mjs', import.meta.url);
if (existsSync(bundle)) await import(bundle.href);
else {
  await import('tsx/esm');
  await import(new URL('../src/cli.ts', import.meta.url).href);
}
