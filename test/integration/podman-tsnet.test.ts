import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { installPlugins } from '../../core/src/cni/install.js';
import { NETNS_PREFIX, NETTOOL, testHost } from '../helpers/host.js';
import { isRoot } from '../helpers/scratch.js';

const hasPodman = fs.existsSync('/usr/bin/podman');

/**
 * The tsnet CNI plugin: podman containers join a tsnet network through `tsnet cni conflist`,
 * get tsnet's addresses, isolation and published ports, and show up in `tsnet network inspect`.
 * All in a private host namespace with its own tsnet state dir.
 */
describe.skipIf(!isRoot || !hasPodman)('podman on a tsnet network through the tsnet CNI plugin (root)', () => {
  it('podman containers on secure-network talk, a tsnet container on another network cannot reach them, -p publishes', async () => {
    const h = await testHost('podts');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-podts-'));
    const env = { ...process.env, CONTAINERS_CONF: path.join(dir, 'containers.conf'), TSNET_STATE_DIR: h.stateDir, TSNET_NETNS_PREFIX: NETNS_PREFIX };
    const inHost = (argv: string[], check = true) => run(['nsenter', `--net=/run/netns/${h.ns}`, ...argv], { env, check, timeoutMs: 120_000 });
    const podman = (...args: string[]) => inHost(['podman', ...args]);
    const names = ['web', 'client'].map((n) => `${n}-${path.basename(dir).slice(-6)}`);
    try {
      installPlugins(path.join(dir, 'bin'));
      fs.mkdirSync(path.join(dir, 'net.d'));
      fs.writeFileSync(env.CONTAINERS_CONF, `[containers]\ndefault_ulimits = []\n[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ["${path.join(dir, 'bin')}"]\nnetwork_config_dir = "${path.join(dir, 'net.d')}"\n`);
      expect((await h.tsnet('create', 'secure-network')).code).toBe(0);
      expect((await h.tsnet('network', 'create', 'payments')).code).toBe(0);
      const conflist = await h.tsnet('cni', 'conflist', 'secure-network');
      expect(JSON.parse(conflist.stdout)).toMatchObject({ name: 'secure-network', plugins: [{ type: 'tsnet', network: 'secure-network' }] });
      fs.writeFileSync(path.join(dir, 'net.d', 'secure-network.conflist'), conflist.stdout);
      await run(['bash', 'scripts/busybox-rootfs.sh', path.join(dir, 'rootfs.tar')]);
      await podman('import', path.join(dir, 'rootfs.tar'), 'tsnet-busybox:latest');

      await podman('run', '-d', '--name', names[0]!, '--network', 'secure-network', '-p', '18282:80', 'tsnet-busybox:latest', 'sh', '-c', 'echo hi-tsnet > /tmp/index.html; exec httpd -f -p 80 -h /tmp');
      await podman('run', '-d', '--name', names[1]!, '--network', 'secure-network', 'tsnet-busybox:latest', 'sleep', '300');
      const net = (await h.json<{ containers: { addresses: string[]; ports: string[] }[] }[]>('network', 'inspect', 'secure-network'))[0]!;
      expect(net.containers).toHaveLength(2);
      const web = net.containers.find((c) => c.ports.length > 0)!;
      expect(web.ports).toEqual(['0.0.0.0:18282->80/tcp']);
      const ip = web.addresses[0]!.split('/')[0]!;
      expect(ip).toMatch(/^172\.18\.0\.\d+$/u);
      expect((await podman('exec', names[1]!, 'ping', '-c', '1', '-W', '2', ip)).stdout).toContain('1 packets received');
      let page = await inHost(['curl', '-s', '-m', '2', 'http://127.0.0.1:18282/index.html'], false);
      for (let i = 0; i < 10 && page.stdout.trim() !== 'hi-tsnet'; i++) page = await inHost(['curl', '-s', '-m', '2', 'http://127.0.0.1:18282/index.html'], false);
      expect(page.stdout.trim()).toBe('hi-tsnet');
      // Isolation applies to runtime containers too.
      expect((await h.tsnet('run', '--network', 'payments', '--', 'node', NETTOOL, 'tcp', ip, '80')).code).not.toBe(0);
      expect((await h.tsnet('network', 'rm', 'secure-network')).code).toBe(3);

      await podman('rm', '-f', '-t', '0', ...names);
      expect((await h.json<{ containers: unknown[] }[]>('network', 'inspect', 'secure-network'))[0]!.containers).toEqual([]);
      expect((await h.exec(['nft', 'list', 'table', 'inet', 'tsnet'])).stdout).not.toContain('18282');
    } finally {
      await podman('rm', '-f', '-t', '0', ...names).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
