import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { K8S_DIR } from '../helpers/k8s-manifests.js';
import { tmpDir } from '../helpers/tmpdir.js';

/**
 * The image's scripts (deploy/kubernetes/image/*.sh) run by /bin/sh against a fake `tsnet` on
 * PATH that logs its argv and answers as the real one does for the calls the scripts make.
 * The container test (test/integration/k8s-image.test.ts) runs them with the real tsnet.
 */
const script = (name: string) => path.join(K8S_DIR, 'image', `${name}.sh`);

// `cni conflist`: prints $FAKE_CONFLIST in 2 KiB pieces, 5 ms apart, so a file written in place
// would be seen partial for a while; FAKE_CONFLIST_FAIL=1 stops after the first piece with exit 1.
// `cni install --dir D [--only N]...`: touches D/N. `network create`: exits $FAKE_CREATE_RC.
// `doctor`: exits $FAKE_DOCTOR_RC. `overlay agent`: its Nth run exits with the Nth word of
// $FAKE_AGENT_RCS, or with "sleep" waits for SIGTERM (logged) and exits 0. Every call appends
// its argv (one line) to $FAKE_LOG.
const FAKE = `#!/bin/sh
echo "$*" >>"$FAKE_LOG"
case "$1 $2" in
  "cni conflist")
    size=$(wc -c <"$FAKE_CONFLIST")
    i=0
    while [ $((i * 2048)) -lt "$size" ]; do
      dd if="$FAKE_CONFLIST" bs=2048 skip=$i count=1 2>/dev/null
      [ -n "\${FAKE_CONFLIST_FAIL:-}" ] && exit 1
      i=$((i + 1))
      sleep 0.005
    done ;;
  "cni install")
    shift 2; dir=""; only=""
    while [ $# -gt 0 ]; do case "$1" in --dir) dir=$2; shift 2 ;; --only) only="$only $2"; shift 2 ;; *) shift ;; esac; done
    mkdir -p "$dir"; for p in \${only:-bridge tsnet}; do : >"$dir/$p"; done ;;
  *)
    for a in "$@"; do
      case "$a" in
        create) exit "\${FAKE_CREATE_RC:-0}" ;;
        doctor) exit "\${FAKE_DOCTOR_RC:-0}" ;;
        agent)
          n=$(($(cat "$FAKE_LOG.agent" 2>/dev/null || echo 0) + 1))
          echo "$n" >"$FAKE_LOG.agent"
          rc=$(echo "\${FAKE_AGENT_RCS:-0}" | cut -d' ' -f"$n")
          if [ "$rc" = sleep ]; then
            trap 'kill $! 2>/dev/null; echo TERM >>"$FAKE_LOG"; exit 0' TERM
            sleep 30 &
            wait $!
          fi
          exit "\${rc:-0}" ;;
      esac
    done ;;
esac
`;

interface Bed {
  dir: string;
  env: NodeJS.ProcessEnv;
  log: () => string[];
  setConflist: (text: string) => void;
}

function bed(): Bed {
  const dir = tmpDir('k8s-scripts');
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'tsnet'), FAKE, { mode: 0o755 });
  fs.symlinkSync(script('write-conflist'), path.join(bin, 'tsnet-write-conflist'));
  const logFile = path.join(dir, 'log');
  fs.writeFileSync(logFile, '');
  const conflist = path.join(dir, 'conflist.src');
  const env = { PATH: `${bin}:/usr/bin:/bin`, FAKE_LOG: logFile, FAKE_CONFLIST: conflist };
  return {
    dir,
    env,
    log: () => fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean),
    setConflist: (text) => fs.writeFileSync(conflist, text),
  };
}

function sh(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn('/bin/sh', [file, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A conflist of about 40 KB (many 2 KiB pieces) whose every prefix is invalid JSON. */
const conflistText = (version: number) => `${JSON.stringify({ cniVersion: '1.0.0', name: 'k8s-pods', plugins: [{ type: 'tsnet', network: 'k8s-pods', version, pad: 'x'.repeat(40_000) }] }, null, 2)}\n`;

/** Names libcni loads from a conf dir: *.conf, *.conflist, *.json. */
const loadable = (name: string) => /\.(conf|conflist|json)$/u.test(name);

/**
 * Reads every loadable file of `dir` as fast as it can until `done` resolves, as a runtime
 * watching the dir would; returns what it saw.
 */
async function observe(dir: string, done: Promise<unknown>) {
  let finished = false;
  void done.then(() => (finished = true));
  const seen = { reads: 0, contents: new Set<string>(), names: new Set<string>() };
  while (!finished) {
    for (const name of await fs.promises.readdir(dir).catch(() => [] as string[])) {
      seen.names.add(name);
      if (!loadable(name)) continue;
      try {
        seen.contents.add(await fs.promises.readFile(path.join(dir, name), 'utf8'));
        seen.reads++;
      } catch {
        // renamed away between readdir and open: fine
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  return seen;
}

describe('tsnet-write-conflist', () => {
  it('replaces the conflist atomically: a reader sees the old or the new file, never a part; the temp file is never loadable', async () => {
    const b = bed();
    const netDir = path.join(b.dir, 'net.d');
    const dest = path.join(netDir, '10-tsnet.conflist');
    const versions = [1, 2, 3, 4].map(conflistText);
    let reads = 0;
    for (const v of versions) {
      b.setConflist(v);
      const run = sh(script('write-conflist'), ['k8s-pods', dest], b.env);
      const seen = await observe(netDir, run);
      const r = await run;
      expect(r.code, r.stderr).toBe(0);
      for (const c of seen.contents) expect(versions, `a partial or unknown file was visible (${c.length} bytes)`).toContain(c);
      for (const n of seen.names) expect(n === '10-tsnet.conflist' || /^\.10-tsnet\.conflist\.[A-Za-z0-9]{6}$/u.test(n), n).toBe(true);
      expect(fs.readFileSync(dest, 'utf8')).toBe(v);
      expect(fs.readdirSync(netDir)).toEqual(['10-tsnet.conflist']);
      expect(fs.statSync(dest).mode & 0o777).toBe(0o644);
      reads += seen.reads;
    }
    expect(reads).toBeGreaterThan(20); // the observer did read while the writer ran

    // Control: the same observer does catch a file written in place (so it would have caught a
    // non-atomic writer above).
    b.setConflist(conflistText(5));
    const naive = path.join(b.dir, 'naive.sh');
    fs.writeFileSync(naive, `tsnet cni conflist k8s-pods >"${dest}"\n`);
    const run = sh(naive, [], b.env);
    const seen = await observe(netDir, run);
    await run;
    expect([...seen.contents].some((c) => !versions.includes(c) && c !== conflistText(5))).toBe(true);
  });

  it('is idempotent: the same content again leaves the file alone (same inode and mtime, no event for the runtime)', async () => {
    const b = bed();
    const dest = path.join(b.dir, 'net.d', '10-tsnet.conflist');
    b.setConflist(conflistText(1));
    expect((await sh(script('write-conflist'), ['k8s-pods', dest], b.env)).stdout).toMatch(/wrote/u);
    const before = fs.statSync(dest);
    await new Promise((r) => setTimeout(r, 20));
    const again = await sh(script('write-conflist'), ['k8s-pods', dest], b.env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/is up to date/u);
    const after = fs.statSync(dest);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect(fs.readdirSync(path.dirname(dest))).toEqual(['10-tsnet.conflist']);
  });

  it('a failing or silent `tsnet cni conflist` leaves the old file and no temp file, and fails', async () => {
    const b = bed();
    const dest = path.join(b.dir, 'net.d', '10-tsnet.conflist');
    b.setConflist(conflistText(1));
    await sh(script('write-conflist'), ['k8s-pods', dest], b.env);
    const ino = fs.statSync(dest).ino;
    b.setConflist(conflistText(2));
    const failed = await sh(script('write-conflist'), ['k8s-pods', dest], { ...b.env, FAKE_CONFLIST_FAIL: '1' });
    expect(failed.code).not.toBe(0);
    b.setConflist('');
    const empty = await sh(script('write-conflist'), ['k8s-pods', dest], b.env);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/printed nothing/u);
    expect(fs.readFileSync(dest, 'utf8')).toBe(conflistText(1));
    expect(fs.statSync(dest).ino).toBe(ino);
    expect(fs.readdirSync(path.dirname(dest))).toEqual(['10-tsnet.conflist']);
    expect((await sh(script('write-conflist'), ['k8s-pods'], b.env)).code).not.toBe(0); // usage
  });
});

describe('tsnet-install-cni', () => {
  /** A fake image release under DIR/image and the host dirs the DaemonSet mounts. */
  function installBed(release = '0.1.0-aaaaaaaaaaaa') {
    const b = bed();
    const image = path.join(b.dir, 'image');
    fs.mkdirSync(path.join(image, release, 'core'), { recursive: true });
    fs.mkdirSync(path.join(image, release, 'bin'));
    fs.writeFileSync(path.join(image, release, 'core', 'package.json'), '{}');
    fs.writeFileSync(path.join(image, release, 'bin', 'node'), 'node', { mode: 0o755 });
    fs.writeFileSync(path.join(image, 'RELEASE-ID'), `${release}\n`);
    const tls = path.join(b.dir, 'tls');
    fs.mkdirSync(tls);
    const env = {
      ...b.env,
      TSNET_IMAGE_OPT: image,
      TSNET_HOST_OPT: path.join(b.dir, 'host', 'opt', 'tsnet'),
      TSNET_CNI_BIN_DIR: path.join(b.dir, 'host', 'opt', 'cni', 'bin'),
      TSNET_CNI_NET_DIR: path.join(b.dir, 'host', 'etc', 'cni', 'net.d'),
      TSNET_STORE_TLS_DIR: tls,
      TSNET_NETWORK: 'k8s-pods',
      TSNET_PROC_DIR: path.join(b.dir, 'proc'),
    };
    fs.mkdirSync(env.TSNET_PROC_DIR);
    b.setConflist(conflistText(1));
    return { ...b, env, image, tls, hostOpt: env.TSNET_HOST_OPT, conf: path.join(env.TSNET_CNI_NET_DIR, '10-tsnet.conflist') };
  }

  it('copies the release, installs the tsnet plugin, then writes the conflist; a second run changes nothing', async () => {
    const b = installBed();
    const r = await sh(script('install-cni'), [], b.env);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readlinkSync(path.join(b.hostOpt, 'current'))).toBe('0.1.0-aaaaaaaaaaaa');
    expect(fs.readFileSync(path.join(b.hostOpt, '0.1.0-aaaaaaaaaaaa', 'bin', 'node'), 'utf8')).toBe('node');
    expect(fs.readdirSync(b.hostOpt).sort()).toEqual(['0.1.0-aaaaaaaaaaaa', 'current']);
    expect(fs.readdirSync(b.env.TSNET_CNI_BIN_DIR)).toEqual(['tsnet']);
    expect(fs.readFileSync(b.conf, 'utf8')).toBe(conflistText(1));
    // conflist last: the runtime never sees a conflist whose plugin is missing.
    expect(b.log()).toEqual([`cni install --dir ${b.env.TSNET_CNI_BIN_DIR} --only tsnet`, 'cni conflist k8s-pods']);
    expect(r.stdout).toMatch(/copied release 0\.1\.0-aaaaaaaaaaaa/u);

    const inode = fs.statSync(b.conf).ino;
    const rel = fs.statSync(path.join(b.hostOpt, '0.1.0-aaaaaaaaaaaa')).ino;
    const again = await sh(script('install-cni'), [], b.env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/release 0\.1\.0-aaaaaaaaaaaa is on the node/u);
    expect(again.stdout).toMatch(/is up to date/u);
    expect(fs.statSync(b.conf).ino).toBe(inode);
    expect(fs.statSync(path.join(b.hostOpt, '0.1.0-aaaaaaaaaaaa')).ino).toBe(rel);
  });

  it('an upgrade keeps the release it replaces and older ones a process runs from, removes the others and leaves foreign files', async () => {
    const b = installBed('0.1.0-bbbbbbbbbbbb');
    const old = (id: string) => {
      fs.mkdirSync(path.join(b.hostOpt, id, 'core'), { recursive: true });
      fs.mkdirSync(path.join(b.hostOpt, id, 'bin'));
      fs.writeFileSync(path.join(b.hostOpt, id, 'core', 'package.json'), '{}');
      fs.writeFileSync(path.join(b.hostOpt, id, 'bin', 'node'), '');
    };
    old('0.1.0-000000000000');
    old('0.1.0-aaaaaaaaaaaa');
    old('.0.1.0-cccccccccccc.tmp.77'); // a copy cut short by a crash
    old('0.1.0-dddddddddddd'); // older, but the resolver it started still runs
    fs.mkdirSync(path.join(b.env.TSNET_PROC_DIR, '4242'));
    fs.writeFileSync(path.join(b.env.TSNET_PROC_DIR, '4242', 'cmdline'), '/opt/tsnet/0.1.0-dddddddddddd/bin/node\0--single-threaded\0/opt/tsnet/0.1.0-dddddddddddd/core/dist/bundle/tsnet-dns.mjs\0');
    fs.symlinkSync('0.1.0-aaaaaaaaaaaa', path.join(b.hostOpt, 'current'));
    fs.mkdirSync(path.join(b.hostOpt, 'notes'));
    const r = await sh(script('install-cni'), [], b.env);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(b.hostOpt).sort()).toEqual(['0.1.0-aaaaaaaaaaaa', '0.1.0-bbbbbbbbbbbb', '0.1.0-dddddddddddd', 'current', 'notes']);
    expect(r.stdout).toContain('kept old release 0.1.0-dddddddddddd: a process still runs from it');
    expect(r.stdout).toContain('removed old release 0.1.0-000000000000');
    expect(fs.readlinkSync(path.join(b.hostOpt, 'current'))).toBe('0.1.0-bbbbbbbbbbbb');
  });

  it('with create-network: creates it with the ConfigMap values and the TLS files that are not empty; exists is fine, any other failure fails before the conflist', async () => {
    const b = installBed();
    fs.writeFileSync(path.join(b.tls, 'ca.pem'), 'CA');
    fs.writeFileSync(path.join(b.tls, 'cert.pem'), 'CERT');
    fs.writeFileSync(path.join(b.tls, 'key.pem'), ''); // empty: not passed
    const env = { ...b.env, TSNET_CREATE_NETWORK: 'true', TSNET_SUBNET: '10.230.0.0/16', TSNET_HOST_PREFIX: '24', TSNET_VNI: '', TSNET_MTU: '1400', TSNET_CNI_PLUGINS: 'tsnet,loopback' };
    const r = await sh(script('install-cni'), [], { ...env, FAKE_CREATE_RC: '3' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/network k8s-pods exists/u);
    expect(b.log()).toEqual([
      `cni install --dir ${b.env.TSNET_CNI_BIN_DIR} --only tsnet --only loopback`,
      `--store-cert ${b.tls}/cert.pem --store-ca ${b.tls}/ca.pem network create -d overlay --subnet 10.230.0.0/16 --host-prefix 24 --mtu 1400 k8s-pods`,
      'cni conflist k8s-pods',
    ]);
    fs.rmSync(b.conf);
    const down = await sh(script('install-cni'), [], { ...env, FAKE_CREATE_RC: '5' });
    expect(down.code).toBe(5);
    expect(down.stderr).toMatch(/creating network k8s-pods failed \(exit 5\)/u);
    expect(fs.existsSync(b.conf)).toBe(false);
  });

  it('refuses a conflist name that is no plain *.conflist file name, and a missing network, before touching anything', async () => {
    for (const name of ['../x.conflist', '.hidden.conflist', '10-tsnet.conf', 'a/b.conflist']) {
      const b = installBed();
      const r = await sh(script('install-cni'), [], { ...b.env, TSNET_CNI_CONF_NAME: name });
      expect(r.code, name).toBe(2);
      expect(fs.existsSync(b.hostOpt), name).toBe(false);
      expect(b.log(), name).toEqual([]);
    }
    const b = installBed();
    const { TSNET_NETWORK: _, ...env } = b.env;
    const r = await sh(script('install-cni'), [], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/TSNET_NETWORK/u);
    expect(fs.existsSync(b.hostOpt)).toBe(false);
  });
});

describe('tsnet-agent and tsnet-health', () => {
  it('the agent gets the non-empty TLS files as --store-* options and needs TSNET_STORE; its failure is the container\'s', async () => {
    const b = bed();
    const tls = path.join(b.dir, 'tls');
    fs.mkdirSync(tls);
    fs.writeFileSync(path.join(tls, 'ca.pem'), 'CA');
    fs.writeFileSync(path.join(tls, 'key.pem'), 'KEY');
    fs.writeFileSync(path.join(tls, 'cert.pem'), 'CERT');
    const env = { ...b.env, TSNET_STORE: 'etcds://10.230.0.1:2379', TSNET_STORE_TLS_DIR: tls, FAKE_AGENT_RCS: '7 5' };
    expect((await sh(script('agent'), [], env)).code).toBe(7);
    for (const f of ['ca', 'key', 'cert']) fs.writeFileSync(path.join(tls, `${f}.pem`), '');
    expect((await sh(script('agent'), [], env)).code).toBe(5);
    expect(b.log()).toEqual([`--store-cert ${tls}/cert.pem --store-key ${tls}/key.pem --store-ca ${tls}/ca.pem overlay agent --stay`, 'overlay agent --stay']);
    const { TSNET_STORE: _, ...noStore } = env;
    const r = await sh(script('agent'), [], noStore);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/TSNET_STORE/u);
  });

  it('an agent that exits 0 (nothing joined yet, or another agent runs) is started again; the container does not end', async () => {
    const b = bed();
    const env = { ...b.env, TSNET_STORE: 'etcd://10.230.0.1:2379', TSNET_STORE_TLS_DIR: path.join(b.dir, 'none'), TSNET_AGENT_RETRY_SECONDS: '0', FAKE_AGENT_RCS: '0 0 9' };
    const r = await sh(script('agent'), [], env);
    expect(r.code).toBe(9);
    expect(b.log()).toEqual(['overlay agent --stay', 'overlay agent --stay', 'overlay agent --stay']);
    expect(r.stderr.match(/again in 0s/gu)).toHaveLength(2);
  });

  it('an agent the plugin started on the node (the pid file names it) is stopped and this one takes over', async () => {
    const b = bed();
    const state = path.join(b.dir, 'state');
    fs.mkdirSync(path.join(state, 'overlay-agent'), { recursive: true });
    // Stands for `node /opt/tsnet/REL/core/bin/tsnet.mjs ... overlay agent` started on the node.
    const fakeNode = path.join(b.dir, 'opt', 'tsnet', '0.1.0-aaaaaaaaaaaa', 'bin', 'node');
    fs.mkdirSync(path.dirname(fakeNode), { recursive: true });
    fs.writeFileSync(fakeNode, 'trap \'kill $! 2>/dev/null; exit 0\' TERM\nsleep 30 &\nwait $!\n');
    const other = spawn('/bin/sh', [fakeNode, 'overlay', 'agent'], { stdio: 'ignore' });
    const otherExit = new Promise<number | null>((resolve) => other.on('close', (code) => resolve(code)));
    fs.writeFileSync(path.join(state, 'overlay-agent', 'pid'), `${other.pid}\n`);
    await new Promise((r) => setTimeout(r, 100)); // its trap is set
    const env = { ...b.env, TSNET_STORE: 'etcd://10.230.0.1:2379', TSNET_STATE_DIR: state, TSNET_STORE_TLS_DIR: path.join(b.dir, 'none'), TSNET_AGENT_RETRY_SECONDS: '30', FAKE_AGENT_RCS: '0 7' };
    const r = await sh(script('agent'), [], env);
    expect(await otherExit).toBe(0);
    expect(r.stderr).toContain(`taking over from the agent started on the node (pid ${other.pid}: /bin/sh ${fakeNode} overlay agent`);
    expect(r.code).toBe(7); // the second run, at once (not after the 30 s retry)
    expect(b.log()).toEqual(['overlay agent --stay', 'overlay agent --stay']);
    // A pid file naming anything else is left alone.
    const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
    onTestFinished(() => void bystander.kill());
    fs.writeFileSync(path.join(state, 'overlay-agent', 'pid'), `${bystander.pid}\n`);
    fs.rmSync(`${b.env.FAKE_LOG}.agent`);
    const r2 = await sh(script('agent'), [], { ...env, TSNET_AGENT_RETRY_SECONDS: '0' });
    expect(r2.code).toBe(7);
    expect(r2.stderr).not.toContain('taking over');
    expect(bystander.exitCode).toBe(null);
  });

  it('SIGTERM reaches the agent, and the container ends with 0 once it stopped', async () => {
    const b = bed();
    const env = { ...b.env, TSNET_STORE: 'etcd://10.230.0.1:2379', TSNET_STORE_TLS_DIR: path.join(b.dir, 'none'), FAKE_AGENT_RCS: 'sleep' };
    const c = spawn('/bin/sh', [script('agent')], { env, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => c.on('close', (code) => resolve(code)));
    for (let i = 0; i < 200 && !b.log().includes('overlay agent --stay'); i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100)); // the fake sets its trap
    const t0 = Date.now();
    c.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(b.log()).toEqual(['overlay agent --stay', 'TERM']);
  });

  it('the liveness probe passes when doctor runs (with or without findings) and fails when it cannot', async () => {
    const b = bed();
    const rc = async (doctor: string) => (await sh(script('health'), [], { ...b.env, FAKE_DOCTOR_RC: doctor })).code;
    expect(await rc('0')).toBe(0);
    expect(await rc('1')).toBe(0);
    expect(await rc('5')).toBe(1);
    expect(await rc('2')).toBe(1);
    expect(b.log()[0]).toBe('doctor --format json');
  });
});
