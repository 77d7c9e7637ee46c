#!/usr/bin/env node
// The tsnet CLI: the esbuild bundle when built, else the tsc output.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/bundle/tsnet.mjs', import.meta.url);
await import(existsSync(bundle) ? bundle.href : new URL('../dist/cli/main.js', import.meta.url).href);
