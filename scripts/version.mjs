// The version `tsnet --version` prints, baked into the bundles by scripts/bundle.mjs: the package
// version and the commit the build came from (`git rev-parse --short HEAD`, "-dirty" when tracked
// files differ from it, "unknown" outside a git checkout), e.g. `0.1.0 (commit 1a2b3c4-dirty)`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export function buildVersion(root) {
  const git = (...args) => {
    try {
      return execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  // Only root's own repository: a tree unpacked inside another checkout is "unknown", not that one's commit.
  const own = git('rev-parse', '--show-toplevel') === fs.realpathSync(root);
  const commit = own ? git('rev-parse', '--short', 'HEAD') : '';
  const dirty = commit && git('status', '--porcelain', '--untracked-files=no') ? '-dirty' : '';
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'core', 'package.json'), 'utf8'));
  return `${pkg.version} (commit ${commit ? `${commit}${dirty}` : 'unknown'})`;
}
