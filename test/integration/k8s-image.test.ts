import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { run } from '../../core/src/index.js';
import { privateDockerd } from '../helpers/dockerd.js';
import { render, runArgsFor } from '../helpers/k8s-manifests.js';
import { isRoot, scratchNetns, uid } from '../helpers/scratch.js';
import { tmpDir } from '../helpers/tmpdir.js';
import { PLUGINS as PLUGIN_HANDLERS } from '../../plugins/registry.js';

const hasPodman = fs.existsSync('/usr/bin/podman') && fs.existsSync('/usr/bin/patchelf');
const hasDocker = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].some((p) => fs.existsSync(p)) && fs.existsSync('/usr/bin/patchelf');
const BUILD = new URL('../../deploy/kubernetes/build-image.sh', import.meta.url).pathname;
// Every plugin the worker runs (plugins/registry.ts): what `cni install` writes (the bundles'
// directory also holds the etcd client, a library).
const PLUGINS = Object.keys(PLUGIN_HANDLERS).sort();

/**
 * The node image of deploy/kubernetes, built offline by build-image.sh from this checkout's
 * build and imported with podman (no registry, no dockerd), then run with --network none: the
 * CLI, the plugin install, the addons and tools, the init container's script against host dirs
 * bound in, and the plugin it installs run on this host from the copied release.
 */
describe.skipIf(!isRoot || !hasPodman)('k8s node image (root, podman)', () => {
  it('builds offline; tsnet --version, cni install, the addons and tools work inside; tsnet-install-cni installs a release the host runs', { timeout: 600_000 }, async () => {
    const dir = tmpDir('k8s-image');
    const tag = `localhost/tsnet-k8s-test-${uid()}:test`;
    // podman's default ulimits cannot be set here (/work/shared/MACHINE.md).
    const conf = path.join(dir, 'containers.conf');
    fs.writeFileSync(conf, '[containers]\ndefault_ulimits = []\n');
    const env = { ...process.env, CONTAINERS_CONF: conf };
    const podman = (args: string[], check = true) => run(['podman', ...args], { env, check, timeoutMs: 180_000 });
    onTestFinished(async () => {
      await podman(['rmi', '-f', tag], false);
    });

    const built = await run(['bash', BUILD, '--runtime', 'podman', '--tag', tag], { env, timeoutMs: 480_000 });
    const release = /^release (\S+)$/mu.exec(built.stdout)?.[1];
    expect(built.stdout).toContain(`image ${tag}`);
    expect(release).toMatch(/^\d+\.\d+\.\d+-[0-9a-f]{12}$/u);
    const inImage = (args: string[], extra: string[] = []) => podman(['run', '--rm', '--network', 'none', ...extra, tag, ...args]);

    // The CLI: the same build as this checkout's.
    const hostVersion = (await run([new URL('../../native/build/bin/tsnet', import.meta.url).pathname, '--version'])).stdout;
    expect((await inImage(['tsnet', '--version'])).stdout).toBe(hostVersion);

    // cni install: every plugin, one launcher file under every name, configured for the release.
    const x = path.join(dir, 'x');
    fs.mkdirSync(x);
    await inImage(['tsnet', 'cni', 'install', '--dir', '/tmp/x'], ['-v', `${x}:/tmp/x`]);
    expect(fs.readdirSync(x).sort()).toEqual(PLUGINS);
    const stats = PLUGINS.map((p) => fs.statSync(path.join(x, p)));
    expect(new Set(stats.map((s) => s.ino)).size).toBe(1);
    expect(stats[0]!.nlink).toBe(PLUGINS.length);
    expect(stats[0]!.mode & 0o777).toBe(0o755);
    const launcher = fs.readFileSync(path.join(x, 'tsnet')).toString('latin1');
    expect(launcher).toContain(`node=/opt/tsnet/${release}/bin/node\nroot=/opt/tsnet/${release}\n`);

    // Self-contained: no loader or libc outside the release; the addons, libnftables (through
    // koffi) and the tools load from the release's lib/.
    const probe = (await inImage(['sh', '-c', [
      'test ! -e /lib64/ld-linux-x86-64.so.2 && test ! -e /lib/x86_64-linux-gnu/libc.so.6 && echo no-system-libc',
      `cd /opt/tsnet/${release} && bin/node -e 'require("netlink"); const k = require("koffi"); k.load("libnftables.so.1"); console.log("addons ok")'`,
      'nft --version', 'iptables-save --version', 'iptables -V',
      // the entry tsnet starts detached helpers with (overlay agent on demand, firewall watcher)
      `/opt/tsnet/${release}/bin/node /opt/tsnet/${release}/core/bin/tsnet.mjs --version`,
    ].join(' && ')])).stdout;
    expect(probe).toMatch(/^no-system-libc\naddons ok\nnftables v\d+\.\d+\.\d+ .*\niptables-save v[\d.]+ \(nf_tables\)\niptables v[\d.]+ \(nf_tables\)\n\d+\.\d+\.\d+ \(commit [0-9a-f]+.*\)\n$/u);

    // The DaemonSet's init container as the kubelet would run it: the manifest's command, env
    // (ConfigMap values; the network overridden to `bridge`, which needs no store) and mounts,
    // host paths under a dir of this test.
    const host = path.join(dir, 'host');
    const objs = render();
    const ds = objs.find((o) => o.kind === 'DaemonSet')!;
    const noStore = { TSNET_NETWORK: 'bridge', TSNET_CREATE_NETWORK: 'false' };
    const initRun = runArgsFor(ds, objs, 'install-cni', host, noStore);
    const init = await inImage(initRun.command, initRun.options);
    expect(init.stdout).toContain(`copied release ${release} to the node`);
    expect(fs.readdirSync(path.join(host, 'opt/cni/bin'))).toEqual(['tsnet']);
    expect(fs.readlinkSync(path.join(host, 'opt/tsnet/current'))).toBe(release);
    const confFile = path.join(host, 'etc/cni/net.d/10-tsnet.conflist');
    expect(JSON.parse(fs.readFileSync(confFile, 'utf8'))).toEqual({
      cniVersion: '1.0.0',
      name: 'bridge',
      plugins: [{ type: 'tsnet', network: 'bridge', capabilities: { portMappings: true, ips: true } }],
    });
    expect(fs.readdirSync(path.join(host, 'etc/cni/net.d'))).toEqual(['10-tsnet.conflist']);
    const ino = fs.statSync(confFile).ino;
    const again = await inImage(initRun.command, initRun.options);
    expect(again.stdout).toContain(`release ${release} is on the node`);
    expect(again.stdout).toContain('is up to date');
    expect(fs.statSync(confFile).ino).toBe(ino);

    // The agent's liveness probe in the agent's container (its env and mounts): doctor runs.
    const agentRun = runArgsFor(ds, objs, 'agent', host, noStore);
    const liveness = (ds['spec'] as { template: { spec: { containers: { livenessProbe: { exec: { command: string[] } } }[] } } }).template.spec.containers[0]!.livenessProbe.exec.command;
    const live = await podman(['run', '--rm', '--network', 'none', ...agentRun.options, tag, ...liveness], false);
    expect(live.code, live.stderr).toBe(0);

    // The plugin it installed runs on this host with the copied release at /opt/tsnet (in a
    // private mount namespace with a tmpfs on /opt, so the host's /opt is not touched): the
    // patched node uses the release's own loader and libraries.
    const version = await run(['unshare', '-m', '--propagation', 'private', 'sh', '-c',
      `mount -t tmpfs none /opt && mkdir /opt/tsnet && mount --bind "${path.join(host, 'opt/tsnet')}" /opt/tsnet && exec "${path.join(host, 'opt/cni/bin/tsnet')}"`,
    ], { env: { PATH: process.env['PATH'], CNI_COMMAND: 'VERSION', TSNET_WORKER: '0' }, input: '{"cniVersion":"1.0.0"}', timeoutMs: 60_000 });
    const answer = JSON.parse(version.stdout) as { cniVersion: string; supportedVersions: string[] };
    expect(answer.supportedVersions).toEqual(expect.arrayContaining(['0.3.1', '0.4.0', '1.0.0', '1.1.0']));
    // Without the release there the same file cannot run: it needs nothing else of this host's.
    const missing = await run([path.join(host, 'opt/cni/bin/tsnet')], { env: { PATH: process.env['PATH'], CNI_COMMAND: 'VERSION', TSNET_WORKER: '0' }, input: '{}', check: false });
    expect(missing.code).not.toBe(0);
  });
});

describe.skipIf(!isRoot || !hasDocker)('k8s node image (root, docker)', () => {
  it('build-image.sh --runtime docker imports into a private dockerd; tsnet --version and cni install run in a --network none container', { timeout: 600_000 }, async () => {
    const dir = tmpDir('k8s-image-docker');
    // A dockerd of this test in its own namespace (its iptables chains land there).
    const ns = scratchNetns('k8sdock');
    const dockerd = privateDockerd(ns.name);
    await dockerd.start();
    const env = { ...process.env, DOCKER_HOST: dockerd.host };
    const tag = `tsnet-k8s-test-${uid()}:test`;
    const built = await run(['bash', BUILD, '--runtime', 'docker', '--tag', tag], { env, timeoutMs: 480_000 });
    expect(built.stdout).toContain(`image ${tag}`);
    const release = /^release (\S+)$/mu.exec(built.stdout)?.[1];
    const docker = (args: string[]) => run(['docker', ...args], { env, timeoutMs: 180_000 });
    const hostVersion = (await run([new URL('../../native/build/bin/tsnet', import.meta.url).pathname, '--version'])).stdout;
    expect((await docker(['run', '--rm', '--network', 'none', tag, 'tsnet', '--version'])).stdout).toBe(hostVersion);
    const x = path.join(dir, 'x');
    fs.mkdirSync(x);
    await docker(['run', '--rm', '--network', 'none', '-v', `${x}:/tmp/x`, tag, 'tsnet', 'cni', 'install', '--dir', '/tmp/x']);
    expect(fs.readdirSync(x).sort()).toEqual(PLUGINS);
    expect(fs.readFileSync(path.join(x, 'bridge')).toString('latin1')).toContain(`node=/opt/tsnet/${release}/bin/node\n`);
    // The image's environment as build-image.sh sets it.
    const envOut = (await docker(['run', '--rm', '--network', 'none', tag, 'env'])).stdout;
    expect(envOut).toContain('TSNET_WORKER=0\n');
    expect(envOut).toContain(`XTABLES_LIBDIR=/opt/tsnet/${release}/lib/xtables\n`);
  });
});
