import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { killWorkers } from '../helpers/workers.js';

const isRoot = process.getuid?.() === 0;
const REPO = process.cwd();

/**
 * The documented install (README "Install"): a fresh clone of this repository, `scripts/install.sh`
 * in it, then tsnet and tsnet-conformance from a new login shell. The install runs in a private
 * mount namespace with a tmpfs over /usr/local, so the machine's /usr/local is never touched.
 */
describe.skipIf(!isRoot)('install on PATH', () => {
  it('a fresh clone, scripts/install.sh, then tsnet --version from a new login shell (root and another user); idempotent; --uninstall', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-ins-clone-'));
    fs.chmodSync(tmp, 0o755); // other users must reach the clone's bundles
    const runDir = path.join(tmp, 'run');
    onTestFinished(() => {
      killWorkers(runDir);
      fs.rmSync(tmp, { recursive: true, force: true });
    });
    const clone = path.join(tmp, 'tsnet');
    const git = spawnSync('git', ['clone', '--quiet', REPO, clone], { encoding: 'utf8' });
    expect(git.status, git.stderr).toBe(0);
    const head = spawnSync('git', ['-C', clone, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
    expect(head).toMatch(/^[0-9a-f]{7,}$/u);
    const before = fs.readdirSync('/usr/local/bin').sort();

    // One script in the private mount namespace (a tmpfs over /usr/local lives as long as it).
    const out = path.join(tmp, 'out');
    const script = `
      set -u
      mount -t tmpfs tmpfs /usr/local || exit 90
      cd ${clone}
      scripts/install.sh > ${out}.install 2>&1; echo $? > ${out}.install.rc
      ls -l /usr/local/bin > ${out}.ls
      bash -l -c 'tsnet --version' > ${out}.version 2>&1; echo $? > ${out}.version.rc
      bash -l -c 'command -v tsnet tsnet-conformance' > ${out}.which 2>&1
      bash -l -c 'tsnet-conformance --help' > ${out}.conf 2>&1; echo $? > ${out}.conf.rc
      HOME=/tmp setpriv --reuid=65534 --regid=65534 --clear-groups bash -l -c 'tsnet --version' > ${out}.user 2>&1; echo $? > ${out}.user.rc
      HOME=/tmp setpriv --reuid=65534 --regid=65534 --clear-groups bash -l -c 'tsnet network ls' > ${out}.userls 2>&1; echo $? > ${out}.userls.rc
      HOME=/tmp setpriv --reuid=65534 --regid=65534 --clear-groups bash -l -c 'tsnet-conformance --plugins /usr/lib/cni' > ${out}.userconf 2>&1; echo $? > ${out}.userconf.rc
      sum1=$(md5sum /usr/local/bin/* | md5sum)
      scripts/install.sh > ${out}.install2 2>&1; echo $? > ${out}.install2.rc
      sum2=$(md5sum /usr/local/bin/* | md5sum)
      [ "$sum1" = "$sum2" ] && echo same > ${out}.idem
      echo 'not ours' > /usr/local/share/zsh/site-functions/_other
      scripts/install.sh --uninstall > ${out}.uninstall 2>&1; echo $? > ${out}.uninstall.rc
      bash -l -c 'command -v tsnet' > ${out}.after 2>&1; echo $? > ${out}.after.rc
      find /usr/local -type f > ${out}.left
    `;
    const env = { ...process.env, TSNET_RUN_DIR: runDir, TSNET_STATE_DIR: path.join(tmp, 'state') };
    const r = spawnSync('unshare', ['-m', 'sh', '-c', script], { encoding: 'utf8', env, timeout: 900_000 });
    const read = (ext: string) => (fs.existsSync(`${out}.${ext}`) ? fs.readFileSync(`${out}.${ext}`, 'utf8') : `(no ${ext})`);
    expect(r.status, `${r.stderr}${read('install')}`).toBe(0);

    expect(read('install.rc').trim(), read('install')).toBe('0');
    expect(read('install')).toContain('/usr/local/bin/tsnet\n');
    // A login shell finds both on PATH, and --version names the clone's commit (no -dirty).
    expect(read('which')).toBe('/usr/local/bin/tsnet\n/usr/local/bin/tsnet-conformance\n');
    expect(read('version.rc').trim(), read('version')).toBe('0');
    expect(read('version')).toBe(`0.1.0 (commit ${head})\n`);
    expect(read('conf.rc').trim(), read('conf')).toBe('0');
    expect(read('conf')).toMatch(/^usage: tsnet-conformance --plugins DIR/u);
    // Another user: --version works, a command is refused with the clear message.
    expect(read('user.rc').trim(), read('user')).toBe('0');
    expect(read('user')).toBe(`0.1.0 (commit ${head})\n`);
    expect(read('userls.rc').trim()).toBe('5');
    expect(read('userls')).toMatch(/^tsnet: PERMISSION_DENIED: tsnet network ls needs root or CAP_NET_ADMIN/u);
    expect(read('userconf.rc').trim()).toBe('5');
    expect(read('userconf')).toMatch(/^tsnet-conformance: PERMISSION_DENIED: the suite needs root or CAP_NET_ADMIN/u);
    // Idempotent: a second install succeeds and leaves the same files.
    expect(read('install2.rc').trim(), read('install2')).toBe('0');
    expect(read('idem')).toBe('same\n');
    // --uninstall removes what it installed, and only that.
    expect(read('uninstall.rc').trim(), read('uninstall')).toBe('0');
    expect(read('after.rc').trim()).not.toBe('0');
    expect(read('left')).toBe('/usr/local/share/zsh/site-functions/_other\n');
    // The machine's own /usr/local/bin never saw any of it.
    expect(fs.readdirSync('/usr/local/bin').sort()).toEqual(before);
  }, 900_000);
});
