import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, onTestFinished } from 'vitest';
import { installPlugins } from '../../core/src/cni/install.js';
import { run } from '../../core/src/index.js';
import { dropNetns, isRoot, testName } from './scratch.js';

/** What a CNI test file works in: a temp root, tsnet's plugins in root/bin, a private "host" namespace. */
export interface CniBed {
  root: string;
  bin: string;
  host: string;
}

/** A temp root with `plugins` installed in root/bin, made before the file's tests and removed after. */
export function pluginDir(tag: string, plugins: string[]): { root: string; bin: string } {
  const dir = { root: '', bin: '' };
  beforeAll(() => {
    if (!isRoot) return;
    dir.root = fs.mkdtempSync(path.join(os.tmpdir(), `tsnet-test-${tag}-`));
    dir.bin = path.join(dir.root, 'bin');
    installPlugins(dir.bin, plugins);
  });
  afterAll(() => {
    if (dir.root) fs.rmSync(dir.root, { recursive: true, force: true });
  });
  return dir;
}

/**
 * Registers the file's set-up and tear-down: a temp root with `plugins` installed in root/bin (the
 * launcher, as a runtime finds them) and a private "host" namespace (`tag`) the plugins run in;
 * both removed after the file's tests, passed or failed. `prepare` runs in the host after it is
 * made (e.g. a master link). The fields are filled when the tests run.
 */
export function cniBed(tag: string, plugins: string[], prepare?: (host: string) => Promise<void>): CniBed {
  const bed: CniBed = { root: '', bin: '', host: '' };
  beforeAll(async () => {
    if (!isRoot) return;
    bed.root = fs.mkdtempSync(path.join(os.tmpdir(), `tsnet-test-${tag}-`));
    bed.bin = path.join(bed.root, 'bin');
    installPlugins(bed.bin, plugins);
    bed.host = testName(tag);
    await run(['ip', 'netns', 'add', bed.host]);
    await prepare?.(bed.host);
  });
  afterAll(async () => {
    if (!isRoot) return;
    if (bed.host) await dropNetns(bed.host);
    if (bed.root) fs.rmSync(bed.root, { recursive: true, force: true });
  });
  return bed;
}

/** A namespace for one test (lo up), dropped when the test ends. */
export async function testNetns(tag: string): Promise<string> {
  const ns = testName(tag);
  await run(['ip', 'netns', 'add', ns]);
  onTestFinished(() => dropNetns(ns));
  await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  return ns;
}
