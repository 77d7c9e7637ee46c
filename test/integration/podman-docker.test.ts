import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { run } from '../../core/src/index.js';
import { installPlugins } from '../../core/src/cni/install.js';
import { privateDockerd } from '../helpers/dockerd.js';
import { dropNetns, isRoot, testName, uid } from '../helpers/scratch.js';

/**
 * podman's default CNI conflist (bridge + portmap + firewall + tuning, as 87-podman-bridge.conflist
 * has it) with only tsnet's plugins, on a host where dockerd runs (issue 11): a private dockerd in
 * the test's "host" namespace sets FORWARD policy DROP there; podman containers on the network
 * still reach each other and their published port, because tsnet's firewall plugin opens FORWARD
 * for them. Without the firewall plugin in the chain, the same ping does not pass.
 */
const hasPodman = fs.existsSync('/usr/bin/podman') && fs.existsSync('/usr/sbin/dockerd');

describe.skipIf(!isRoot || !hasPodman)('podman default conflist next to dockerd (root)', () => {
  it('bridge + portmap + firewall + tuning: containers talk and publish under Docker\'s FORWARD DROP; without firewall they do not', async () => {
    const tag = uid();
    const host = testName(`pdk${tag}`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-podman-docker-'));
    await run(['ip', 'netns', 'add', host]);
    onTestFinished(async () => {
      await dropNetns(host);
      fs.rmSync(dir, { recursive: true, force: true });
    });
    await run(['ip', '-n', host, 'link', 'set', 'lo', 'up']);
    await run(['ip', 'netns', 'exec', host, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    await privateDockerd(host).start();
    expect((await run(['ip', 'netns', 'exec', host, 'iptables', '-S', 'FORWARD'])).stdout).toContain('-P FORWARD DROP');

    const env = { ...process.env, CONTAINERS_CONF: path.join(dir, 'containers.conf'), TSNET_STATE_DIR: path.join(dir, 'state') };
    const inHost = (argv: string[], check = true) => run(['nsenter', `--net=/run/netns/${host}`, ...argv], { env, check, timeoutMs: 120_000 });
    const podman = (...args: string[]) => inHost(['podman', ...args]);
    const bin = path.join(dir, 'bin');
    installPlugins(bin);
    fs.mkdirSync(path.join(dir, 'net.d'));
    fs.writeFileSync(env.CONTAINERS_CONF, `[containers]\ndefault_ulimits = []\n[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ${JSON.stringify([bin])}\nnetwork_config_dir = "${path.join(dir, 'net.d')}"\n`);
    const conflist = (name: string, subnet: string, withFirewall: boolean) => ({
      cniVersion: '0.4.0',
      name,
      plugins: [
        { type: 'bridge', bridge: `pdk${name.slice(-4)}`, isGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: 'host-local', dataDir: path.join(dir, 'data'), routes: [{ dst: '0.0.0.0/0' }], ranges: [[{ subnet, gateway: subnet.replace(/0\/24$/u, '1') }]] } },
        { type: 'portmap', capabilities: { portMappings: true } },
        ...(withFirewall ? [{ type: 'firewall' }] : []),
        { type: 'tuning' },
      ],
    });
    const nets = { with: `pdkw${tag}`, without: `pdko${tag}` };
    fs.writeFileSync(path.join(dir, 'net.d', `${nets.with}.conflist`), JSON.stringify(conflist(nets.with, '10.234.120.0/24', true)));
    fs.writeFileSync(path.join(dir, 'net.d', `${nets.without}.conflist`), JSON.stringify(conflist(nets.without, '10.234.121.0/24', false)));
    await run(['bash', 'scripts/busybox-rootfs.sh', path.join(dir, 'rootfs.tar')]);
    await podman('import', path.join(dir, 'rootfs.tar'), 'tsnet-busybox:latest');
    const names: string[] = [];
    onTestFinished(async () => {
      if (names.length > 0) await podman('rm', '-f', '-t', '0', ...names).catch(() => undefined);
    });
    const pair = async (net: string, port: number) => {
      const [srv, cli] = [`srv-${net}`, `cli-${net}`];
      names.push(srv, cli);
      await podman('run', '-d', '--name', srv, '--network', net, '-p', `${port}:80`, 'tsnet-busybox:latest', 'sh', '-c', 'echo hi-pdk > /tmp/index.html; exec httpd -f -p 80 -h /tmp');
      await podman('run', '-d', '--name', cli, '--network', net, 'tsnet-busybox:latest', 'sleep', '300');
      const ip = (await podman('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', srv)).stdout.trim();
      const ping = await inHost(['podman', 'exec', cli, 'ping', '-c', '1', '-W', '2', ip], false);
      let page = await inHost(['curl', '-s', '-m', '2', `http://127.0.0.1:${port}/index.html`], false);
      for (let i = 0; i < 5 && page.stdout.trim() !== 'hi-pdk'; i++) page = await inHost(['curl', '-s', '-m', '2', `http://127.0.0.1:${port}/index.html`], false);
      return { ping: ping.stdout.includes('1 packets received'), page: page.stdout.trim() === 'hi-pdk' };
    };
    expect(await pair(nets.with, 18291)).toEqual({ ping: true, page: true });
    expect((await pair(nets.without, 18292)).ping).toBe(false); // Docker's DROP stops them without the plugin
    // Docker's policy is untouched, and it is tsnet's firewall plugin that opened the way.
    expect((await run(['ip', 'netns', 'exec', host, 'iptables', '-S', 'FORWARD'])).stdout).toContain('-P FORWARD DROP');
    expect((await inHost(['nft', 'list', 'set', 'inet', 'tsnet_cni', 'fwd4'])).stdout).toMatch(/10\.234\.120\.\d+/u);
    await podman('rm', '-f', '-t', '0', ...names.splice(0));
    expect((await inHost(['nft', 'list', 'set', 'inet', 'tsnet_cni', 'fwd4'])).stdout).not.toMatch(/10\.234\.120\.\d+/u);
  }, 240_000);
});
