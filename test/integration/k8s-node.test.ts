import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { run } from '../../core/src/index.js';
import { render, runArgsFor } from '../helpers/k8s-manifests.js';
import { isRoot, testName, uid } from '../helpers/scratch.js';
import { tmpDir } from '../helpers/tmpdir.js';

const BUILD = new URL('../../deploy/kubernetes/build-image.sh', import.meta.url).pathname;
const CLI = new URL('../../native/build/bin/tsnet', import.meta.url).pathname;
const hasTools = ['/usr/bin/podman', '/usr/bin/patchelf', '/usr/bin/etcd'].every((p) => fs.existsSync(p));
/** The overlay driver (`tsnet overlay agent`) is in this build: on main once issue 12's driver lands. */
const hasOverlay = hasTools && /^\s+tsnet overlay\b/mu.test((await run([CLI, '--help'], { check: false })).stdout);

/** Kills what runs in a namespace of this test (etcd, the resolver the plugin started), then deletes it. */
async function dropNs(ns: string): Promise<void> {
  const pids = (await run(['ip', 'netns', 'pids', ns], { check: false })).stdout.split('\n').filter(Boolean);
  for (const p of pids) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await run(['ip', 'netns', 'del', ns], { check: false });
}

/**
 * One Kubernetes node, as far as one machine allows: the node is a network namespace with an
 * underlay bridge (10.230.255.1/24) and an etcd member on it; the DaemonSet's containers run from
 * the image with podman as the manifest says (runArgsFor: command, ConfigMap env, hostPath and
 * Secret mounts under a dir of the test, privileged, the node's pid namespace) in that namespace;
 * the runtime's CNI ADD/DEL are the installed plugin run in that namespace with the node's
 * /opt/tsnet and /var/lib/tsnet bound in a private mount namespace.
 */
describe.skipIf(!isRoot || !hasOverlay)('k8s DaemonSet on one node (root, podman, etcd; needs the overlay driver)', () => {
  it('the init container creates the network and writes the conflist; a pod ADD joins the node; the pod\'s agent takes the node\'s agent over; DEL; stop', { timeout: 600_000 }, async () => {
    const dir = tmpDir('k8s-node');
    const conf = path.join(dir, 'containers.conf');
    fs.writeFileSync(conf, '[containers]\ndefault_ulimits = []\n');
    const env = { ...process.env, CONTAINERS_CONF: conf };
    const podman = (args: string[], check = true) => run(['podman', ...args], { env, check, timeoutMs: 180_000 });
    const tag = `localhost/tsnet-k8s-node-${uid()}:test`;
    const agentName = `tsnet-k8s-agent-${uid()}`;
    const node = testName('k8snode');
    const pod = testName('k8spod');
    onTestFinished(async () => {
      await podman(['rm', '-f', agentName], false);
      await podman(['rmi', '-f', tag], false);
      await dropNs(pod);
      await dropNs(node);
    });

    await run(['ip', 'netns', 'add', node]);
    await run(['ip', 'netns', 'add', pod]);
    for (const argv of [['link', 'set', 'lo', 'up'], ['link', 'add', 'k8sul0', 'type', 'bridge'], ['addr', 'add', '10.230.255.1/24', 'dev', 'k8sul0'], ['link', 'set', 'k8sul0', 'up'], ['route', 'add', 'default', 'via', '10.230.255.254', 'dev', 'k8sul0', 'onlink']]) {
      await run(['ip', '-n', node, ...argv]);
    }
    const etcdLog = fs.openSync(path.join(dir, 'etcd.log'), 'a');
    const etcd = spawn('nsenter', [`--net=/run/netns/${node}`, 'etcd', '--name', 'k8s', '--data-dir', path.join(dir, 'etcd'),
      '--listen-client-urls', 'http://10.230.255.1:23950', '--advertise-client-urls', 'http://10.230.255.1:23950',
      '--listen-peer-urls', 'http://127.0.0.1:23951', '--initial-advertise-peer-urls', 'http://127.0.0.1:23951', '--initial-cluster', 'k8s=http://127.0.0.1:23951'], { stdio: ['ignore', etcdLog, etcdLog] });
    fs.closeSync(etcdLog);
    onTestFinished(() => void etcd.kill('SIGKILL'));
    const store = 'etcd://10.230.255.1:23950';
    let healthy = false;
    for (let i = 0; i < 50 && !healthy; i++) {
      healthy = (await run(['nsenter', `--net=/run/netns/${node}`, 'etcdctl', '--endpoints', '10.230.255.1:23950', 'endpoint', 'health'], { check: false })).code === 0;
      if (!healthy) await new Promise((r) => setTimeout(r, 200));
    }
    expect(healthy, fs.readFileSync(path.join(dir, 'etcd.log'), 'utf8').slice(-2000)).toBe(true);

    const built = await run(['bash', BUILD, '--runtime', 'podman', '--tag', tag], { env, timeoutMs: 480_000 });
    const release = /^release (\S+)$/mu.exec(built.stdout)?.[1];
    expect(release).toBeDefined();

    const host = path.join(dir, 'host');
    const objs = render();
    const ds = objs.find((o) => o.kind === 'DaemonSet')!;
    const network = `k8s${uid()}`;
    const config = { TSNET_STORE: store, TSNET_NETWORK: network, TSNET_SUBNET: '10.230.0.0/17' };
    const onNode = ['--network', `ns:/run/netns/${node}`];

    // The init container: creates the network in the store, installs, writes the conflist.
    const init = runArgsFor(ds, objs, 'install-cni', host, config);
    const first = await podman(['run', '--rm', ...onNode, ...init.options, tag, ...init.command]);
    expect(first.stdout).toContain(`created network ${network}`);
    const again = await podman(['run', '--rm', ...onNode, ...init.options, tag, ...init.command]);
    expect(again.stdout).toContain(`network ${network} exists`);
    const conflist = JSON.parse(fs.readFileSync(path.join(host, 'etc/cni/net.d/10-tsnet.conflist'), 'utf8')) as { name: string; cniVersion: string; plugins: Record<string, unknown>[] };
    expect(conflist.plugins[0]).toMatchObject({ type: 'tsnet', network });

    // The runtime's ADD for a pod, through the installed plugin on the node.
    const netconf = JSON.stringify({ ...conflist.plugins[0], cniVersion: conflist.cniVersion, name: conflist.name });
    const cni = (command: 'ADD' | 'DEL') => run(['unshare', '-m', '--propagation', 'private', 'sh', '-c', [
      'mount -t tmpfs none /opt', 'mkdir /opt/tsnet', `mount --bind "${path.join(host, 'opt/tsnet')}" /opt/tsnet`,
      'mount -t tmpfs none /var/lib', 'mkdir /var/lib/tsnet', `mount --bind "${path.join(host, 'var/lib/tsnet')}" /var/lib/tsnet`,
      `exec nsenter --net=/run/netns/${node} "${path.join(host, 'opt/cni/bin/tsnet')}"`,
    ].join(' && ')], { input: netconf, timeoutMs: 120_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TSNET_WORKER: '0', CNI_COMMAND: command, CNI_CONTAINERID: `k8s${uid()}`, CNI_NETNS: `/run/netns/${pod}`, CNI_IFNAME: 'eth0', CNI_PATH: path.join(host, 'opt/cni/bin') } });
    const added = JSON.parse((await cni('ADD')).stdout) as { ips: { address: string }[] };
    expect(added.ips[0]?.address).toMatch(/^10\.230\.\d+\.\d+\/24$/u);
    const addrs = (await run(['ip', '-n', pod, '-j', 'addr', 'show', 'eth0'])).stdout;
    expect(addrs).toContain(added.ips[0]!.address.split('/')[0]);

    // The pod's agent (node pid namespace, as hostPID) takes over from the one the plugin started.
    const agent = runArgsFor(ds, objs, 'agent', host, config);
    await podman(['run', '-d', '--name', agentName, ...onNode, ...agent.options, tag, ...agent.command]);
    const pidFile = path.join(host, 'var/lib/tsnet/overlay-agent/pid');
    let holder = '';
    for (let i = 0; i < 100 && !holder.includes('core/dist/bundle/tsnet.mjs overlay agent'); i++) {
      await new Promise((r) => setTimeout(r, 200));
      try {
        holder = fs.readFileSync(`/proc/${fs.readFileSync(pidFile, 'utf8').trim()}/cmdline`, 'utf8').replaceAll('\0', ' ');
      } catch {
        holder = '';
      }
    }
    expect(holder, (await podman(['logs', agentName], false)).stderr).toContain(`/opt/tsnet/${release}/core/dist/bundle/tsnet.mjs overlay agent`);
    const probe = await podman(['exec', agentName, 'tsnet-health'], false);
    expect(probe.code, probe.stderr).toBe(0);

    // DEL reaches the pod's agent; stopping the pod stops the agent cleanly.
    await cni('DEL');
    await podman(['stop', '-t', '20', agentName]);
    const state = (await podman(['inspect', '-f', '{{.State.ExitCode}}', agentName])).stdout.trim();
    expect(state).toBe('0');
    // The agent itself ended (SIGTERM reached it), not only the script around it.
    const agentPid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    expect(fs.existsSync(`/proc/${agentPid}/cmdline`) && fs.readFileSync(`/proc/${agentPid}/cmdline`, 'utf8').includes('overlay')).toBe(false);
  });
});
