import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TsnetError } from '../errors.js';

/**
 * The checkout (or installed package) this code runs from: the nearest directory above this
 * module holding core/package.json. Works from core/dist, from any bundle (core/dist/bundle,
 * plugins/dist, worker/dist) and from the sources under tsx.
 */
export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (fs.existsSync(path.join(dir, 'core', 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new TsnetError('NOT_FOUND', `cannot find the tsnet installation above ${fileURLToPath(import.meta.url)}`);
}
