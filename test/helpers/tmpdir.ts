import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';

/** A private temp dir removed when the test ends, pass or fail. */
export function tmpDir(tag = 'state'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tsnet-${tag}-`));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
