import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';

const SCRIPT = path.resolve('scripts/version.mjs');
/** What scripts/bundle.mjs bakes into `tsnet --version` for a tree at `root`. */
const versionOf = (root: string): string =>
  execFileSync('node', ['--input-type=module', '-e', `import { buildVersion } from ${JSON.stringify(SCRIPT)}; process.stdout.write(buildVersion(${JSON.stringify(root)}));`], { encoding: 'utf8' });
const git = (root: string, ...args: string[]) =>
  execFileSync('git', ['-C', root, '-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'init.defaultBranch=main', ...args], { encoding: 'utf8' }).trim();

function tree(parent = os.tmpdir()): string {
  const root = fs.mkdtempSync(path.join(parent, 'tsnet-test-ins-ver-'));
  onTestFinished(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.mkdirSync(path.join(root, 'core'));
  fs.writeFileSync(path.join(root, 'core', 'package.json'), '{"version":"9.8.7"}');
  return root;
}

describe('--version (scripts/version.mjs)', () => {
  it('outside git: the version and "commit unknown"', () => {
    expect(versionOf(tree())).toBe('9.8.7 (commit unknown)');
  });

  it('in a checkout: the short commit; -dirty for a changed tracked file, not for an untracked one', () => {
    const root = tree();
    git(root, 'init', '-q');
    git(root, 'add', 'core/package.json');
    git(root, 'commit', '-qm', 'one');
    const head = git(root, 'rev-parse', '--short', 'HEAD');
    expect(head).toMatch(/^[0-9a-f]{7,}$/u);
    expect(versionOf(root)).toBe(`9.8.7 (commit ${head})`);
    fs.writeFileSync(path.join(root, 'untracked.txt'), 'x');
    expect(versionOf(root)).toBe(`9.8.7 (commit ${head})`);
    fs.writeFileSync(path.join(root, 'core', 'package.json'), '{"version":"9.8.7" }');
    expect(versionOf(root)).toBe(`9.8.7 (commit ${head}-dirty)`);
  });

  it('a tree unpacked inside another checkout is "unknown", not that checkout\'s commit', () => {
    const outer = tree();
    git(outer, 'init', '-q');
    git(outer, 'add', '.');
    git(outer, 'commit', '-qm', 'outer');
    expect(versionOf(tree(outer))).toBe('9.8.7 (commit unknown)');
  });
});
