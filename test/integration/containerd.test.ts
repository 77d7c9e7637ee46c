import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { installPlugins } from '../../core/src/cni/install.js';
import { isRoot, uid } from '../helpers/scratch.js';

const REFERENCE = '/usr/lib/cni';
const SOCKET = '/var/run/docker/containerd/containerd.sock';
const BIN = '/opt/cni/bin';
const CONF_DIR = '/etc/cni/net.d';
const ready = fs.existsSync('/usr/bin/ctr') && fs.existsSync(path.join(REFERENCE, 'firewall'));

/** iptables chains the reference firewall plugin creates once and never removes. */
async function dropFirewallPluginChains(): Promise<void> {
  const rules = (await run(['iptables', '-S', 'FORWARD'])).stdout.split('\n').filter((l) => l.includes('-j CNI-FORWARD'));
  for (const r of rules) await run(['iptables', ...r.replace(/^-A /u, '-D ').match(/(?:[^\s"]+|"[^"]*")+/gu)!.map((a) => a.replace(/^"|"$/gu, ''))], { check: false });
  for (const args of [['-F', 'CNI-FORWARD'], ['-X', 'CNI-FORWARD'], ['-F', 'CNI-ADMIN'], ['-X', 'CNI-ADMIN']]) await run(['iptables', ...args], { check: false });
}

/**
 * containerd's `ctr run --cni` (dockerd's containerd, started by scripts/docker-up.sh) reads the
 * fixed /etc/cni/net.d and /opt/cni/bin. The test writes a uniquely named conflist there and the
 * plugin set under test, and restores both afterwards. The conflist chains the reference
 * `firewall` plugin, as real ones do, because dockerd's FORWARD policy is DROP on this host.
 */
describe.skipIf(!isRoot || !ready).each([
  ['tsnet', true],
  ['reference', false],
] as const)('containerd ctr run --cni with %s plugins (root)', (_label, ours) => {
  it('a container reaches another by IP; --rm releases the leases', async () => {
    await run(['bash', 'scripts/docker-up.sh']);
    const tag = uid();
    const ns = `tsnettest${tag}`;
    const ctr = (...args: string[]) => run(['ctr', '-a', SOCKET, '-n', ns, ...args], { check: false, timeoutMs: 60_000 });
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-ctr-data-'));
    const conf = path.join(CONF_DIR, `00-tsnet-ctrtest-${tag}.conflist`);
    const bridge = `cctr${tag}`;
    const hadBin = fs.existsSync(BIN);
    const hadParent = fs.existsSync(path.dirname(BIN));
    const backup = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-ctr-bin-backup-'));
    const hadChains = (await run(['iptables', '-S'])).stdout.includes('-N CNI-FORWARD');
    try {
      if (hadBin) fs.cpSync(BIN, backup, { recursive: true });
      fs.mkdirSync(BIN, { recursive: true });
      if (ours) installPlugins(BIN, ['bridge', 'host-local', 'loopback']);
      else for (const p of ['bridge', 'host-local', 'loopback']) fs.copyFileSync(path.join(REFERENCE, p), path.join(BIN, p));
      fs.copyFileSync(path.join(REFERENCE, 'firewall'), path.join(BIN, 'firewall'));
      fs.mkdirSync(CONF_DIR, { recursive: true });
      fs.writeFileSync(conf, JSON.stringify({
        cniVersion: '1.0.0',
        name: `tsnet-ctrtest-${tag}`,
        plugins: [
          { type: 'bridge', bridge, isGateway: true, ipam: { type: 'host-local', dataDir: data, ranges: [[{ subnet: '10.248.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } },
          { type: 'firewall' },
        ],
      }));
      const image = 'docker.io/library/tsnet-busybox:latest';
      const saved = path.join(data, 'image.tar');
      await run(['sh', '-c', `docker save tsnet-busybox:latest > ${saved}`]);
      expect((await ctr('images', 'import', saved)).code).toBe(0);
      fs.rmSync(saved);

      const leases = () => fs.readdirSync(path.join(data, `tsnet-ctrtest-${tag}`)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/u.test(f));
      const server = ctr('run', '--rm', '--cni', image, `a${tag}`, 'sleep', '6');
      let ip: string | undefined;
      for (let i = 0; i < 50 && !ip; i++) {
        await new Promise((r) => setTimeout(r, 100));
        if (fs.existsSync(path.join(data, `tsnet-ctrtest-${tag}`))) ip = leases()[0];
      }
      expect(ip).toMatch(/^10\.248\.0\.\d+$/u);
      const ping = await ctr('run', '--rm', '--cni', image, `b${tag}`, 'ping', '-c', '1', '-W', '2', ip!);
      expect(ping.stdout).toContain('1 packets received');
      expect((await server).code).toBe(0);
      expect(leases()).toEqual([]);
      // Which plugin ran: tsnet's bridge writes its lease index next to host-local's files.
      expect(fs.existsSync(path.join(data, `tsnet-ctrtest-${tag}`, '.keys'))).toBe(ours);
    } finally {
      fs.rmSync(conf, { force: true });
      fs.rmSync(BIN, { recursive: true, force: true });
      if (hadBin) fs.cpSync(backup, BIN, { recursive: true });
      else if (!hadParent) fs.rmSync(path.dirname(BIN), { recursive: true, force: true });
      fs.rmSync(backup, { recursive: true, force: true });
      await run(['ip', 'link', 'del', bridge], { check: false });
      if (!hadChains) await dropFirewallPluginChains();
      await ctr('images', 'rm', 'docker.io/library/tsnet-busybox:latest');
      await run(['ctr', '-a', SOCKET, 'namespaces', 'rm', ns], { check: false });
      fs.rmSync(data, { recursive: true, force: true });
    }
  }, 180_000);
});
