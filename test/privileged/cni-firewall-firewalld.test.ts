import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cniExec, type CniOutcome } from '../../conformance/src/exec.js';
import { run } from '../../core/src/index.js';
import { haveFirewalld, privateFirewalld, type PrivateFirewalld } from '../helpers/firewalld.js';
import { peerNs, testHost, type TestHost } from '../helpers/host.js';
import { pluginDir, testNetns as ns } from '../helpers/cni-bed.js';
import { dropNetns, isRoot, testName, uid } from '../helpers/scratch.js';

/**
 * The `firewall` plugin's firewalld backend against a real firewalld (a private one on its own
 * D-Bus, in the test's host namespace: helpers/firewalld.ts), tsnet's plugins beside the
 * reference's (/usr/lib/cni/firewall, 1.1.1). A container behind a bridge pings a client behind
 * the host's other veth: firewalld drops that forwarded traffic until the firewall plugin makes
 * the container's address a source of the trusted zone. Observer: `firewall-cmd
 * --zone=trusted --list-sources` on the private bus, and real pings. Only 10.213.0.0/16.
 */
const REF = '/usr/lib/cni';
const plugins = pluginDir('pmfd', ['bridge', 'host-local', 'firewall']);

interface Bed {
  fw: PrivateFirewalld;
  h: TestHost;
  env: Record<string, string>;
  client: string;
  dataDir: string;
}

async function bed(): Promise<Bed> {
  const fw = privateFirewalld();
  const name = `pmfd${uid()}`;
  const env = { TSNET_DBUS_SYSTEM_BUS_ADDRESS: fw.busAddress, DBUS_SYSTEM_BUS_ADDRESS: fw.busAddress, TSNET_FIREWALL_WATCH: '0', TSNET_FIREWALL_NAME: name };
  const h = await testHost('pmfd', env);
  await fw.start(h.ns);
  await h.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const client = await peerNs(h.ns, 'pmfdc', 'pmv1', '10.213.1.1/24', '10.213.1.2/24', '10.213.0.0/16');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-pmfd-data-'));
  onTestFinished(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  return { fw, h, env: { ...env, TSNET_STATE_DIR: h.stateDir }, client, dataDir };
}

const call = (b: Bed, dir: string, plugin: string, cmd: string, conf: unknown, ctr: string, id: string): Promise<CniOutcome> =>
  cniExec(dir, plugin, cmd, conf, { containerId: id, netns: `/run/netns/${ctr}`, ifname: 'eth0' }, b.env, b.h.ns);

async function ok(b: Bed, dir: string, plugin: string, cmd: string, conf: unknown, ctr: string, id: string): Promise<CniOutcome> {
  const r = await call(b, dir, plugin, cmd, conf, ctr, id);
  if (r.code !== 0) throw new Error(`${plugin} ${cmd} exited ${r.code}: ${r.stdout} ${r.stderr}`);
  return r;
}

const ping = async (from: string, to: string) => (await run(['ip', 'netns', 'exec', from, 'ping', '-c', '1', '-W', '1', to], { check: false })).code === 0;
const sources = async (b: Bed) => (await b.fw.cmd('--zone=trusted', '--list-sources')).stdout.trim().split(/\s+/u).filter((s) => s !== '');

describe.skipIf(!isRoot || !haveFirewalld || !fs.existsSync(`${REF}/firewall`))('firewall plugin, backend firewalld, against a real firewalld (root, private firewalld)', () => {
  it('ADD makes the address a trusted source and traffic passes; firewall-cmd --reload forgets it; DEL removes it (tsnet and the reference)', async () => {
    const seen: Record<string, unknown> = {};
    for (const [label, dir, base] of [['reference', REF, 70], ['tsnet', '', 60]] as const) {
      const b = await bed();
      const ctr = await ns('pmfdct');
      const id = `pmfd-${uid()}`;
      const net = { cniVersion: '1.0.0', name: `pmfdnet-${uid()}` };
      const bridgeConf = { ...net, type: 'bridge', bridge: `pmbr${uid()}`, isGateway: true, ipam: { type: 'host-local', dataDir: b.dataDir, ranges: [[{ subnet: `10.213.${base}.0/24` }]], routes: [{ dst: '0.0.0.0/0' }] } };
      const prev = (await ok(b, dir || plugins.bin, 'bridge', 'ADD', bridgeConf, ctr, id)).json as { ips: { address: string }[] };
      const ip = prev.ips[0]!.address.split('/')[0]!;
      const fwConf = { ...net, type: 'firewall', backend: 'firewalld', prevResult: prev };
      onTestFinished(async () => {
        await call(b, dir || plugins.bin, 'firewall', 'DEL', fwConf, ctr, id);
        await call(b, dir || plugins.bin, 'bridge', 'DEL', bridgeConf, ctr, id);
      });
      const before = await ping(ctr, '10.213.1.2');
      const add = await call(b, dir || plugins.bin, 'firewall', 'ADD', fwConf, ctr, id);
      expect(add.code, `${label}: ${add.stdout} ${add.stderr}`).toBe(0);
      expect(add.json?.['ips'], label).toEqual(prev.ips); // prevResult passed through
      const added = await sources(b);
      const after = await ping(ctr, '10.213.1.2');
      const check = await call(b, dir || plugins.bin, 'firewall', 'CHECK', fwConf, ctr, id);
      // firewalld's reload drops runtime sources.
      expect((await b.fw.cmd('--reload')).code).toBe(0);
      const reloaded = { sources: await sources(b), ping: await ping(ctr, '10.213.1.2') };
      let restored: unknown;
      if (label === 'tsnet') {
        // tsnet firewall reload puts the recorded sources back (the reference has nothing for that).
        const r = await b.h.tsnet('firewall', 'reload');
        expect(r.code, r.stderr).toBe(0);
        restored = { sources: await sources(b), ping: await ping(ctr, '10.213.1.2') };
      } else {
        // Put it back by hand so DEL has something to remove, as before the reload.
        await b.fw.cmd('--zone=trusted', `--add-source=${added[0] ?? ip}`);
      }
      const del = await call(b, dir || plugins.bin, 'firewall', 'DEL', fwConf, ctr, id);
      expect(del.code, `${label}: ${del.stdout}`).toBe(0);
      const gone = { sources: await sources(b), ping: await ping(ctr, '10.213.1.2') };
      const again = await call(b, dir || plugins.bin, 'firewall', 'DEL', fwConf, ctr, id);
      seen[label] = { before, added, after, check: check.code, reloaded, restored, gone, delAgain: again.code };
      console.log(label, JSON.stringify(seen[label]));
      if (label === 'tsnet') {
        expect(seen[label]).toEqual({ before: false, added: [`${ip}/32`], after: true, check: 0, reloaded: { sources: [], ping: false }, restored: { sources: [`${ip}/32`], ping: true }, gone: { sources: [], ping: false }, delAgain: 0 });
      }
    }
    expect(seen['reference']).toMatchObject({ before: false, added: ['10.213.70.2/32'], after: true, check: 0, reloaded: { sources: [], ping: false }, gone: { sources: [], ping: false }, delAgain: 0 });
  }, 240_000);
});
