import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { installPlugins } from '../../core/src/cni/install.js';
import { dropNetns, isRoot, testName, uid } from '../helpers/scratch.js';

const REFERENCE = '/usr/lib/cni';
const hasPodman = fs.existsSync('/usr/bin/podman') && fs.existsSync(path.join(REFERENCE, 'portmap'));
const OUR_BIN = 'bin';

/**
 * podman with network_backend = "cni" and a conflist of bridge + host-local + portmap, run in a
 * private "host" namespace (nsenter --net, so podman keeps the real cgroup mounts). The same
 * test runs with tsnet's plugins only (bridge, host-local, portmap) and with the reference ones.
 */
describe.skipIf(!isRoot || !hasPodman).each([
  ['tsnet', true],
  ['reference', false],
] as const)('podman (CNI backend) with %s plugins (root)', (_label, ours) => {
  it('two containers ping each other by IP, a published port answers from the host, podman rm leaves nothing', async () => {
    const tag = uid();
    const host = testName(`pod${tag}`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-podman-'));
    const net = `tsnetpod${tag}`;
    const bridge = `cpod${tag}`;
    await run(['ip', 'netns', 'add', host]);
    await run(['ip', '-n', host, 'link', 'set', 'lo', 'up']);
    const env = { ...process.env, CONTAINERS_CONF: path.join(dir, 'containers.conf'), TSNET_STATE_DIR: path.join(dir, 'state') };
    const inHost = (argv: string[], check = true) => run(['nsenter', `--net=/run/netns/${host}`, ...argv], { env, check, timeoutMs: 120_000 });
    const podman = (...args: string[]) => inHost(['podman', ...args]);
    const names = [`srv-${tag}`, `cli-${tag}`];
    try {
      const bin = path.join(dir, OUR_BIN);
      if (ours) installPlugins(bin);
      fs.mkdirSync(path.join(dir, 'net.d'));
      fs.writeFileSync(env.CONTAINERS_CONF, `[containers]\ndefault_ulimits = []\n[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ${JSON.stringify([ours ? bin : REFERENCE])}\nnetwork_config_dir = "${path.join(dir, 'net.d')}"\n`);
      const conflist = {
        cniVersion: '1.0.0',
        name: net,
        plugins: [
          { type: 'bridge', bridge, isGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: 'host-local', dataDir: path.join(dir, 'data'), ranges: [[{ subnet: '10.246.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      };
      fs.writeFileSync(path.join(dir, 'net.d', `${net}.conflist`), JSON.stringify(conflist));
      await run(['bash', 'scripts/busybox-rootfs.sh', path.join(dir, 'rootfs.tar')]);
      await podman('import', path.join(dir, 'rootfs.tar'), 'tsnet-busybox:latest');

      await podman('run', '-d', '--name', names[0]!, '--network', net, '-p', '18080:80', 'tsnet-busybox:latest', 'sh', '-c', 'echo hi-pod > /tmp/index.html; exec httpd -f -p 80 -h /tmp');
      await podman('run', '-d', '--name', names[1]!, '--network', net, 'tsnet-busybox:latest', 'sleep', '300');
      const ip = (await podman('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', names[0]!)).stdout.trim();
      expect(ip).toMatch(/^10\.246\.0\.\d+$/u);
      expect((await podman('exec', names[1]!, 'ping', '-c', '1', '-W', '2', ip)).stdout).toContain('1 packets received');
      let page = await inHost(['curl', '-s', '-m', '2', 'http://127.0.0.1:18080/index.html'], false);
      for (let i = 0; i < 10 && page.stdout.trim() !== 'hi-pod'; i++) page = await inHost(['curl', '-s', '-m', '2', 'http://127.0.0.1:18080/index.html'], false);
      expect(page.stdout.trim()).toBe('hi-pod');
      // Which bridge plugin ran is visible: tsnet's keeps its masquerade in `inet tsnet_cni`.
      const tables = (await inHost(['nft', 'list', 'tables'])).stdout;
      expect(tables.includes('inet tsnet_cni')).toBe(ours);

      await podman('rm', '-f', '-t', '0', ...names);
      const links = JSON.parse((await run(['ip', '-n', host, '-j', 'link'])).stdout) as { ifname: string }[];
      expect(links.map((l) => l.ifname).sort()).toEqual([bridge, 'lo'].sort());
      const leases = fs.readdirSync(path.join(dir, 'data', net)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/u.test(f));
      expect(leases).toEqual([]);
      // tsnet's table stays with empty sets (nothing matches): no address of the pods is left in it.
      if (ours) expect((await inHost(['nft', 'list', 'table', 'inet', 'tsnet_cni'])).stdout).not.toMatch(/elements = /u);
    } finally {
      await podman('rm', '-f', '-t', '0', ...names).catch(() => undefined);
      await dropNetns(host);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
