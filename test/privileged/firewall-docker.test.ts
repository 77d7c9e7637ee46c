import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { NETTOOL, outside, testHost } from '../helpers/host.js';
import { privateDockerd } from '../helpers/dockerd.js';
import { isRoot } from '../helpers/scratch.js';
import { reachable, untilReachable } from '../helpers/fw-probe.js';

/**
 * Docker next to tsnet: a private dockerd (own data-root, exec-root, socket, its own managed
 * containerd) started inside the test's host namespace, so its iptables chains and its FORWARD
 * policy DROP land there, never on the real host. Docker starting after tsnet's network exists,
 * and Docker restarting, must not cut tsnet's containers off (the watcher adds the compat chain).
 */

const haveDockerd = fs.existsSync('/usr/sbin/dockerd');

describe.skipIf(!isRoot || !haveDockerd)('Docker starting and restarting next to tsnet (root, private dockerd)', () => {
  it('dockerd sets FORWARD policy DROP after tsnet: the watcher adds the compat chain; a dockerd restart keeps connectivity', async () => {
    const h = await testHost('tfw', { TSNET_FIREWALL_WATCH: '1' });
    const out = await outside(h);
    expect((await h.tsnet('network', 'create', '--subnet', '10.232.21.0/24', 'tfwnet')).code).toBe(0);
    expect((await h.tsnet('run', '-d', '--network', 'tfwnet', '--name', 'srv', '-p', '8080:80', '--', 'node', NETTOOL, 'serve-tcp', '80', 'hello-tfw')).stderr).toBe('');
    await untilReachable(h, out, 5000);
    expect((await h.exec(['iptables', '-S', 'FORWARD'])).stdout).toMatch(/^-P FORWARD ACCEPT\n$/);

    // Docker 20.10 sets FORWARD DROP when it has to switch forwarding on (as on a booted host
    // where dockerd comes first); tsnet already switched it on here, so switch it off as a reset would.
    await h.exec(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
    const docker = privateDockerd(h.ns);
    const t0 = Date.now();
    await docker.start();
    expect((await h.exec(['iptables', '-S', 'FORWARD'])).stdout).toMatch(/-P FORWARD DROP[\s\S]*-A FORWARD -j DOCKER-USER/);
    const first = await untilReachable(h, out, 5000);
    console.log(`dockerd start: ${Date.now() - t0 - first} ms to answer; tsnet reachable ${first} ms after`);
    expect((await h.exec(['iptables', '-S', 'FORWARD'])).stdout).toContain('-A FORWARD -j TSNET-FORWARD');

    await docker.stop();
    await docker.start();
    const again = await untilReachable(h, out, 5000);
    console.log(`dockerd restart: tsnet reachable ${again} ms after dockerd answered`);
    expect(again).toBeLessThan(2000);
    const fwd = (await h.exec(['iptables', '-S', 'FORWARD'])).stdout;
    expect(fwd).toMatch(/^-P FORWARD DROP\n/); // Docker's policy, untouched by tsnet
    expect(fwd).toContain('-A FORWARD -j TSNET-FORWARD');
    expect((await h.tsnet('firewall', 'status')).code).toBe(0);
  }, 120_000);
});
