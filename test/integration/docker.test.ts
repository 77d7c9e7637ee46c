import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import { isRoot, uid } from '../helpers/scratch.js';
import { TSNET } from '../helpers/workers.js';

// testcontainers' reaper image cannot be pulled here; containers are stopped by the test itself.
process.env['TESTCONTAINERS_RYUK_DISABLED'] = 'true';
const { GenericContainer } = await import('testcontainers');
type Started = Awaited<ReturnType<InstanceType<typeof GenericContainer>['start']>>;

const IMAGE = 'tsnet-busybox:latest';

/**
 * Real Docker containers on tsnet networks. tsnet runs in the machine's own namespace, next to
 * dockerd and its iptables rules (FORWARD policy DROP), under a firewall name and state dir of
 * its own so nothing of a real tsnet install is touched; everything is removed afterwards.
 */
describe.skipIf(!isRoot)('Docker containers on tsnet networks (root, dockerd started by the test)', () => {
  const tag = uid();
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-docker-state-'));
  const fwName = `tsnettest${tag}`;
  const env = { ...process.env, TSNET_STATE_DIR: stateDir, TSNET_FIREWALL_NAME: fwName };
  const tsnet = (...args: string[]) => run([TSNET, ...args], { env, check: false });
  const containers: Started[] = [];
  const nets = [`secure-${tag}`, `payments-${tag}`];

  const start = async (name: string, cmd: string): Promise<Started> => {
    const c = await new GenericContainer(IMAGE).withName(`tsnet-${name}-${tag}`).withNetworkMode('none').withCommand(['sh', '-c', cmd]).start();
    containers.push(c);
    return c;
  };
  const addr = async (network: string, container: string) => {
    const r = await tsnet('--format', 'json', 'network', 'connect', network, container);
    expect(r.stderr).toBe('');
    return (JSON.parse(r.stdout) as { leases: { ip: string }[] }).leases[0]!.ip;
  };

  beforeAll(async () => {
    await run(['bash', 'scripts/docker-up.sh']);
  }, 120_000);

  afterAll(async () => {
    for (const n of nets) await tsnet('network', 'rm', '--force', n);
    await Promise.all(containers.map((c) => c.stop({ remove: true }).catch(() => undefined)));
    await run(['nft', 'delete', 'table', 'inet', fwName], { check: false });
    fs.rmSync(stateDir, { recursive: true, force: true });
  }, 120_000);

  it('frontend and backend containers talk over secure-network; a payment container on another network cannot reach them', async () => {
    for (const n of nets) expect((await tsnet('network', 'create', n)).code).toBe(0);
    const backend = await start('backend', 'echo hello-backend > /tmp/index.html && exec httpd -f -p 80 -h /tmp');
    const frontend = await start('frontend', 'exec sleep 3600');
    const payment = await start('payment', 'echo hello-payment > /tmp/index.html && exec httpd -f -p 80 -h /tmp');
    const backendIp = await addr(nets[0]!, `tsnet-backend-${tag}`);
    await addr(nets[0]!, frontend.getId()); // by ID works too
    const paymentIp = await addr(nets[1]!, `tsnet-payment-${tag}`);

    // busybox wget segfaults on this machine, so HTTP goes through nc.
    const get = async (c: Started, ip: string) => {
      const r = await c.exec(['sh', '-c', `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${ip} 80`]);
      return { exitCode: r.output.includes('200 OK') ? 0 : 1, output: r.output.split('\r\n\r\n')[1] ?? '' };
    };
    let ok = await get(frontend, backendIp);
    for (let i = 0; i < 10 && ok.exitCode !== 0; i++) ok = await get(frontend, backendIp);
    expect(ok.output.trim()).toBe('hello-backend');
    expect((await frontend.exec(['ping', '-c', '1', '-W', '1', backendIp])).exitCode).toBe(0);
    expect((await get(payment, paymentIp)).output.trim()).toBe('hello-payment');
    expect((await get(payment, backendIp)).exitCode).not.toBe(0);
    expect((await frontend.exec(['ping', '-c', '1', '-W', '1', paymentIp])).exitCode).not.toBe(0);
    expect((await get(frontend, paymentIp)).exitCode).not.toBe(0);

    // The network's resolver: the container's resolv.conf points at it, and names resolve inside.
    expect((await frontend.exec(['cat', '/etc/resolv.conf'])).output).toMatch(/nameserver 172\.\d+\.0\.1/u);
    const lookup = await frontend.exec(['nslookup', `tsnet-backend-${tag}`]);
    expect(lookup.output).toContain(backendIp);

    // Docker's own rules are still in force, and tsnet's sit beside them under its own names.
    const forward = (await run(['iptables', '-S', 'FORWARD'])).stdout;
    expect(forward).toContain('-P FORWARD DROP');
    expect(forward).toContain('-A FORWARD -j DOCKER-USER');
    expect(forward).toContain(`-A FORWARD -j ${fwName.toUpperCase()}-FORWARD`);
    expect((await run(['nft', 'list', 'table', 'inet', fwName])).stdout).toContain('drop');

    // Disconnect and remove: the container keeps only lo, and no tsnet rule remains.
    expect((await tsnet('network', 'disconnect', nets[0]!, `tsnet-backend-${tag}`)).code).toBe(0);
    const links = await backend.exec(['ip', '-o', 'link']);
    expect(links.output.trim().split('\n').map((l) => l.split(': ')[1])).toEqual(['lo']);
    for (const n of nets) expect((await tsnet('network', 'rm', '--force', n)).code).toBe(0);
    expect((await run(['iptables-save'])).stdout).not.toContain(fwName.toUpperCase());
    expect((await run(['nft', 'list', 'tables'])).stdout).not.toContain(fwName);
  }, 120_000);
});
