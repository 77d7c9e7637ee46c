import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { instance } from '@viz-js/viz';
import { XMLValidator } from 'fast-xml-parser';
import { PNG } from 'pngjs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cniExec } from '../../conformance/src/exec.js';
import { run } from '../../core/src/index.js';
import type { Graph, GraphEdge } from '../../core/src/graph/types.js';
import { NETTOOL, peerNs, testHost, type TestHost } from '../helpers/host.js';
import { graphSchemaErrors } from '../helpers/graph-schema.js';
import { eventually } from '../helpers/reach.js';
import { pluginDir, testNetns } from '../helpers/cni-bed.js';
import { isRoot } from '../helpers/scratch.js';
import { tmpDir } from '../helpers/tmpdir.js';

/**
 * `tsnet graph` on the seeds' scenario in a private test host: secure-network (frontend,
 * backend publishing 8080:80) and payments (payment), an uplink veth to a namespace of the test
 * as the default route. Subnets 10.208.0.0/16 (networks) and 10.209.0.0/16 (uplink).
 * TSNET_UPDATE_DOCS=1 also writes the README's picture and text (docs/graph-scenario.*).
 */

/** The scenario, up and answering. */
async function scenario(h: TestHost): Promise<void> {
  await peerNs(h.ns, 'grfo', 'grfup0', '10.209.0.1/24', '10.209.0.2/24');
  await run(['ip', '-n', h.ns, 'route', 'add', 'default', 'via', '10.209.0.2']);
  const ok = async (...args: string[]) => {
    const r = await h.tsnet(...args);
    expect(r.code, `tsnet ${args.join(' ')}: ${r.stderr}`).toBe(0);
  };
  await ok('create', 'secure-network', '--subnet', '10.208.0.0/24');
  await ok('network', 'create', 'payments', '--subnet', '10.208.1.0/24');
  await ok('run', '-d', '--network', 'secure-network', '--name', 'backend', '-p', '8080:80', '--', 'node', NETTOOL, 'serve-tcp', '80', 'hello-backend');
  await ok('run', '-d', '--network', 'secure-network', '--name', 'frontend', '--', 'node', NETTOOL, 'serve-tcp', '80', 'hello-frontend');
  await ok('run', '-d', '--network', 'payments', '--name', 'payment', '--', 'node', NETTOOL, 'serve-tcp', '80', 'hello-payment');
  expect((await eventually(() => h.exec(['node', NETTOOL, 'tcp', '127.0.0.1', '8080'], false))).stdout).toBe('hello-backend\n');
}

const by = (g: Graph, kind: GraphEdge['kind'], from: string, to: string): GraphEdge => {
  const id = (name: string) => (name === 'host' ? 'host' : g.endpoints.find((e) => e.container === g.containers.find((c) => c.name === name)?.id)!.id);
  const e = g.edges.find((x) => x.kind === kind && x.from === id(from) && x.to === id(to));
  if (!e) throw new Error(`no ${kind} edge ${from} -> ${to}`);
  return e;
};

/** Every colour of a PNG (RGBA), up to `max`. */
function colours(file: string, max = 16): Set<number> {
  const png = PNG.sync.read(fs.readFileSync(file));
  const seen = new Set<number>();
  for (let i = 0; i < png.data.length && seen.size < max; i += 4) seen.add(png.data.readUInt32BE(i));
  return seen;
}

/** A fake Docker Engine API on a unix socket: one container `name` whose process is `pid`. */
async function fakeDocker(dir: string, name: string, id: string, pid: number): Promise<string> {
  const sock = path.join(dir, 'docker.sock');
  const server = http.createServer((req, res) => {
    const known = req.url === `/containers/${name}/json` || req.url === `/containers/${id}/json`;
    res.writeHead(known ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(known ? { Id: id, Name: `/${name}`, State: { Pid: pid } } : { message: 'No such container' }));
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return sock;
}

const plugins = pluginDir('grf', ['tsnet', 'bridge', 'host-local', 'portmap']);

describe.skipIf(!isRoot)('tsnet graph on the seeds scenario (root)', () => {
  it('nodes, edges and reachability from the rule model, confirmed by --probe; text, DOT, SVG and a Chromium screenshot of it', async () => {
    const h = await testHost('grf', { TSNET_FIREWALL_WATCH: '0' });
    await scenario(h);
    const ps = await h.json<{ name: string; addresses: string[] }[]>('ps');
    const addr = (name: string) => ps.find((c) => c.name === name)!.addresses[0]!.split(':')[1]!;

    const r = await h.tsnet('--format', 'json', 'graph', '--probe');
    expect(r.code, r.stderr).toBe(0);
    const g = JSON.parse(r.stdout) as Graph;
    expect(g.schema).toBe('tsnet.graph/v1');
    expect(graphSchemaErrors()(g)).toEqual([]);
    expect(g.probed).toBe(true);
    // Nodes: both networks with their bridges, the three containers, their endpoints, the uplink.
    expect(g.networks.map((n) => [n.name, n.subnets[0]?.subnet, n.internal])).toEqual([['payments', '10.208.1.0/24', false], ['secure-network', '10.208.0.0/24', false]]);
    const links = JSON.parse((await run(['ip', '-n', h.ns, '-j', 'link', 'show', 'type', 'bridge'])).stdout) as { ifname: string }[];
    expect(g.networks.map((n) => n.bridge).sort()).toEqual(links.map((l) => l.ifname).sort());
    expect(g.containers.map((c) => [c.name, c.kind, c.state])).toEqual(expect.arrayContaining([['backend', 'tsnet', 'running'], ['frontend', 'tsnet', 'running'], ['payment', 'tsnet', 'running']]));
    expect(g.containers).toHaveLength(3);
    for (const name of ['backend', 'frontend', 'payment']) expect(g.endpoints.find((e) => e.container === g.containers.find((c) => c.name === name)!.id)!.addresses).toEqual([addr(name)]);
    expect(g.host.uplink).toEqual({ device: 'grfup0', addresses: ['10.209.0.1/24'], gateway: '10.209.0.2' });
    // Edges: 6 peer (3 containers), 3 egress, 1 publish.
    expect(g.edges.map((e) => e.kind).sort()).toEqual(['egress', 'egress', 'egress', 'peer', 'peer', 'peer', 'peer', 'peer', 'peer', 'publish']);
    expect(by(g, 'peer', 'frontend', 'backend')).toMatchObject({ reachable: true, probe: { ok: true, agrees: true } });
    expect(by(g, 'peer', 'backend', 'frontend')).toMatchObject({ reachable: true, probe: { ok: true, agrees: true } });
    for (const [a, b] of [['payment', 'backend'], ['payment', 'frontend'], ['backend', 'payment'], ['frontend', 'payment']] as const) {
      expect(by(g, 'peer', a, b), `${a} -> ${b}`).toMatchObject({ reachable: false, probe: { ok: false, agrees: true } });
      expect(by(g, 'peer', a, b).rule).toMatch(/^isolate br-/u);
    }
    for (const c of ['backend', 'frontend', 'payment']) expect(by(g, 'egress', c, 'host')).toMatchObject({ reachable: true, probe: { ok: true, agrees: true } });
    expect(by(g, 'publish', 'host', 'backend')).toMatchObject({ reachable: true, port: { hostPort: 8080, containerPort: 80, proto: 'tcp' }, probe: { ok: true, agrees: true } });

    // The terminal tree.
    const text = await h.tsnet('graph');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('host  uplink grfup0 10.209.0.1/24 via 10.209.0.2');
    expect(text.stdout).toMatch(/├── network payments \(bridge br-[0-9a-f]+, 10\.208\.1\.0\/24 gw 10\.208\.1\.1\)/u);
    expect(text.stdout).toMatch(/└── payment \[tsnet, running\]/u);
    expect(text.stdout).toMatch(/payment +backend +peer +no +isolate/u);

    // DOT: Graphviz (viz, WASM) renders it without error.
    const dot = await h.tsnet('graph', '--format', 'dot');
    expect(dot.code).toBe(0);
    const viz = await instance();
    const rendered = viz.render(dot.stdout, { format: 'svg' });
    expect(rendered.errors).toEqual([]);
    expect(rendered.status).toBe('success');

    // SVG to a file: well-formed XML, and a headless Chromium screenshot of it is not blank.
    const dir = tmpDir('grf');
    const svgFile = path.join(dir, 'scenario.svg');
    const w = await h.tsnet('graph', '--format', 'svg', '-o', svgFile);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toBe('');
    const svg = fs.readFileSync(svgFile, 'utf8');
    expect(XMLValidator.validate(svg)).toBe(true);
    for (const name of ['>backend<', '>frontend<', '>payment<', '>network payments<']) expect(svg).toContain(name);
    expect(fs.readdirSync(dir)).toEqual(['scenario.svg']); // atomic: no temp file left
    const png = path.join(dir, 'shot.png');
    const shot = await run(['chromium', '--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${path.join(dir, 'profile')}`, `--screenshot=${png}`, '--window-size=1200,800', `file://${svgFile}`], { check: false, timeoutMs: 60_000 });
    expect(fs.existsSync(png), `chromium: exit ${shot.code}: ${shot.stderr}`).toBe(true);
    expect(colours(png).size).toBeGreaterThan(1);
    expect(PNG.sync.read(fs.readFileSync(png)).width).toBe(1200);

    if (process.env['TSNET_UPDATE_DOCS'] === '1') {
      fs.writeFileSync('docs/graph-scenario.svg', svg);
      fs.writeFileSync('docs/graph-scenario.txt', `$ tsnet graph --probe\n${(await h.tsnet('graph', '--probe')).stdout}`);
    }
  }, 180_000);

  it('--probe says when packets disagree with the model (a forward rule flushed by hand): exit 1', async () => {
    const h = await testHost('grf', { TSNET_FIREWALL_WATCH: '0' });
    await scenario(h);
    // Isolation gone from the kernel, still in the model: payment now reaches backend.
    await h.exec(['nft', 'flush', 'chain', 'inet', 'tsnet', 'forward']);
    const r = await h.tsnet('--format', 'json', 'graph', '--probe', 'payments', 'secure-network');
    expect(r.code).toBe(1);
    const g = JSON.parse(r.stdout) as Graph;
    expect(by(g, 'peer', 'payment', 'backend')).toMatchObject({ reachable: false, probe: { ok: true, agrees: false } });
    expect(by(g, 'peer', 'frontend', 'backend')).toMatchObject({ reachable: true, probe: { ok: true, agrees: true } });
    const text = await h.tsnet('graph', '--probe');
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/probe: [1-9]\d* edge\(s\) DISAGREE with the model/u);
    // A gateway that does not answer the host either: egress is not probed, and says why.
    await run(['ip', '-n', h.ns, 'route', 'replace', 'default', 'via', '10.209.0.3']);
    const silent = JSON.parse((await h.tsnet('--format', 'json', 'graph', '--probe', 'secure-network')).stdout) as Graph;
    expect(by(silent, 'egress', 'backend', 'host')).toMatchObject({ reachable: true, probe: { ok: null, agrees: null, detail: "the gateway 10.209.0.3 does not answer the host's own ping either" } });
  }, 180_000);

  it('bad input: unknown network (4), bad --format (2), unwritable -o (5): the code, and no file written', async () => {
    const h = await testHost('grf', { TSNET_FIREWALL_WATCH: '0' });
    expect((await h.tsnet('network', 'create', 'grfnet', '--subnet', '10.208.9.0/24')).code).toBe(0);
    const dir = tmpDir('grf');
    const file = path.join(dir, 'g.svg');
    const unknown = await h.tsnet('graph', 'grfnet', 'no-such-net', '--format', 'svg', '-o', file);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toBe('tsnet: NOT_FOUND: no tsnet network or CNI network named "no-such-net" (tsnet network ls lists them)\n');
    const format = await h.tsnet('graph', '--format', 'png', '-o', file);
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/^tsnet: USAGE: Invalid values: Argument: format, Given: "png"/u);
    const missing = await h.tsnet('graph', '-o', path.join(dir, 'no-dir', 'g.txt'));
    expect(missing.code).toBe(5);
    expect(missing.stderr).toMatch(/^tsnet: IO_ERROR: ENOENT/u);
    expect(fs.readdirSync(dir)).toEqual([]);
    // An existing file is replaced whole, or not at all.
    fs.writeFileSync(file, 'before');
    expect((await h.tsnet('graph', 'nope', '-o', file)).code).toBe(4);
    expect(fs.readFileSync(file, 'utf8')).toBe('before');
    expect((await h.tsnet('graph', 'grfnet', '-o', file)).code).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^host {2}\(no default route: no uplink\)\n└── network grfnet/u);
  }, 120_000);

  it('Docker containers through the Engine API, the tsnet CNI plugin\'s and the bridge plugin\'s attachments, with their reachability', async () => {
    const dir = tmpDir('grf');
    // A "Docker container": a process in its own namespace, known to a fake Engine API.
    const dockNs = await testNetns('grfd');
    const proc = spawn('nsenter', [`--net=/run/netns/${dockNs}`, 'sleep', '300'], { stdio: 'ignore' });
    onTestFinished(() => void proc.kill('SIGKILL'));
    const dockId = 'd0c4e7'.padEnd(64, '0');
    const sock = await fakeDocker(dir, 'grfdock', dockId, proc.pid!);
    const h = await testHost('grf', { TSNET_FIREWALL_WATCH: '0', TSNET_DOCKER_SOCKET: sock });
    const env = { TSNET_STATE_DIR: h.stateDir, TSNET_FIREWALL_WATCH: '0' };
    // Docker's FORWARD policy: what no rule accepts is dropped.
    await h.exec(['iptables', '-P', 'FORWARD', 'DROP']);
    expect((await h.tsnet('network', 'create', 'grfnet', '--subnet', '10.208.10.0/24')).code).toBe(0);
    const c = await h.tsnet('network', 'connect', 'grfnet', 'grfdock');
    expect(c.code, c.stderr).toBe(0);
    // A runtime's pod through the tsnet CNI plugin on grfnet.
    const podA = await testNetns('grfa');
    const a = await cniExec(plugins.bin, 'tsnet', 'ADD', { cniVersion: '1.0.0', name: 'grfnet', type: 'tsnet', network: 'grfnet' }, { containerId: 'grfpoda', netns: `/run/netns/${podA}`, ifname: 'eth0' }, env, h.ns, 'nsenter');
    expect(a.code, a.stdout + a.stderr).toBe(0);
    // Another pod on a CNI bridge network of the bridge plugin, masqueraded, with a port map.
    const podB = await testNetns('grfb');
    const net = { cniVersion: '1.0.0', name: 'grfcni' };
    const bridgeConf = { ...net, type: 'bridge', bridge: 'grfbr0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', dataDir: path.join(dir, 'ipam'), ranges: [[{ subnet: '10.208.20.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } };
    const callB = { containerId: 'grfpodb', netns: `/run/netns/${podB}`, ifname: 'eth0' };
    const b = await cniExec(plugins.bin, 'bridge', 'ADD', bridgeConf, callB, env, h.ns, 'nsenter');
    expect(b.code, b.stdout + b.stderr).toBe(0);
    const pm = await cniExec(plugins.bin, 'portmap', 'ADD', { ...net, type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: 8090, containerPort: 80, protocol: 'tcp' }] }, prevResult: b.json }, callB, env, h.ns, 'nsenter');
    expect(pm.code, pm.stdout + pm.stderr).toBe(0);

    // A server behind the port map, so the probe's TCP connection has something to reach.
    const srv = spawn('nsenter', [`--net=/run/netns/${podB}`, 'node', NETTOOL, 'serve-tcp', '80', 'hello-podb'], { stdio: 'ignore' });
    onTestFinished(() => void srv.kill('SIGKILL'));
    expect((await eventually(() => h.exec(['node', NETTOOL, 'tcp', '127.0.0.1', '8090'], false))).stdout).toBe('hello-podb\n');

    const r = await h.tsnet('--format', 'json', 'graph', '--probe');
    expect(r.code, r.stderr).toBe(0);
    const g = JSON.parse(r.stdout) as Graph;
    expect(graphSchemaErrors()(g)).toEqual([]);
    const dock = g.containers.find((x) => x.containerId === dockId);
    expect(dock).toMatchObject({ name: 'grfdock', kind: 'docker', state: 'running' });
    expect(g.containers.find((x) => x.containerId === 'grfpoda')).toMatchObject({ kind: 'cni', state: 'running' });
    expect(g.containers.find((x) => x.containerId === 'grfpodb')).toMatchObject({ kind: 'cni' });
    expect(g.networks.find((n) => n.name === 'grfcni')).toMatchObject({ source: 'cni', bridge: 'grfbr0' });
    const epB = g.endpoints.find((e) => e.container === 'ctr:grfpodb')!;
    expect(epB.addresses).toEqual(['10.208.20.2/24']);
    expect(epB.ports).toEqual([{ hostIp: '', hostPort: 8090, containerPort: 80, proto: 'tcp' }]);
    // The Docker container and the tsnet-plugin pod share grfnet: reachable, and the pings agree.
    expect(by(g, 'peer', 'grfdock', 'grfpoda')).toMatchObject({ reachable: true, probe: { ok: true, agrees: true } });
    expect(by(g, 'peer', 'grfpoda', 'grfdock')).toMatchObject({ reachable: true, probe: { ok: true, agrees: true } });
    // The CNI bridge network is in no tsnet isolation pair: tsnet's accept-from decides one way
    // (and a ping from the Docker container agrees, its replies accepted as established), the
    // host's FORWARD policy DROP the other; the port map without the firewall plugin is a
    // publish edge the policy drops from outside.
    expect(by(g, 'peer', 'grfdock', 'grfpodb')).toMatchObject({ reachable: true, rule: expect.stringMatching(/^accept-from br-/u), probe: { ok: true, agrees: true } });
    expect(by(g, 'peer', 'grfpodb', 'grfdock')).toMatchObject({ reachable: false, rule: 'policy drop' });
    expect(by(g, 'publish', 'host', 'grfpodb')).toMatchObject({ reachable: false, rule: 'policy drop', port: { hostPort: 8090 } });
    // The records keep no namespace: the pod of the bridge plugin is not pinged from, and says so.
    expect(by(g, 'peer', 'grfpodb', 'grfdock').probe).toMatchObject({ ok: null, detail: 'no network namespace recorded for the source' });

    for (const [plugin, conf, call] of [['portmap', { ...net, type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: 8090, containerPort: 80, protocol: 'tcp' }] }, prevResult: b.json }, callB], ['bridge', bridgeConf, callB]] as const) {
      expect((await cniExec(plugins.bin, plugin, 'DEL', conf, call, env, h.ns, 'nsenter')).code).toBe(0);
    }
    expect((await cniExec(plugins.bin, 'tsnet', 'DEL', { cniVersion: '1.0.0', name: 'grfnet', type: 'tsnet', network: 'grfnet' }, { containerId: 'grfpoda', netns: `/run/netns/${podA}`, ifname: 'eth0' }, env, h.ns, 'nsenter')).code).toBe(0);
    expect((await h.tsnet('network', 'disconnect', 'grfnet', 'grfdock')).code).toBe(0);
    const after = JSON.parse((await h.tsnet('--format', 'json', 'graph')).stdout) as Graph;
    expect(after.containers).toEqual([]);
  }, 180_000);
});
