import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cniExec } from '../../conformance/src/exec.js';
import { run } from '../../core/src/index.js';
import { ipj, isRoot, uid } from '../helpers/scratch.js';
import { cniBed, testNetns } from '../helpers/cni-bed.js';

/**
 * DEL is lenient (spec; issue 11): a chain whose portmap ADD was refused is still torn down by
 * libcni's DEL of the same configs, so the DEL of a config ADD would refuse must succeed and
 * remove what it can, while names and paths (issue 10) are still refused on every command.
 */
const bed = cniBed('ld', ['bridge', 'host-local', 'portmap']);

describe.skipIf(!isRoot)('lenient DEL', () => {
  it('a chain with a refused portmap ADD is torn down by DEL of the same configs: no veth, lease or masquerade element left', async () => {
    const ctr = await testNetns('ldc');
    const fw = `ld${uid()}`;
    const env = { TSNET_STATE_DIR: path.join(bed.root, 'state'), TSNET_FIREWALL_NAME: fw };
    const dataDir = path.join(bed.root, 'data');
    const net = { cniVersion: '1.0.0', name: 'ldnet' };
    const bridge = { ...net, type: 'bridge', bridge: `ldbr${uid()}`, isGateway: true, ipMasq: true, ipam: { type: 'host-local', subnet: '10.234.40.0/24', dataDir } };
    const call = { containerId: 'ldctr', netns: `/run/netns/${ctr}`, ifname: 'eth0' };
    const cni = (plugin: string, cmd: string, conf: unknown) => cniExec(bed.bin, plugin, cmd, conf, call, env, bed.host);
    const add = await cni('bridge', 'ADD', bridge);
    expect(add.code, add.stdout).toBe(0);
    // portmap refuses a key it cannot parse (markMasqBit out of range): the runtime's ADD fails here.
    const portmap = { ...net, type: 'portmap', markMasqBit: 99, runtimeConfig: { portMappings: [{ hostPort: 18090, containerPort: 80, protocol: 'tcp' }] }, prevResult: add.json };
    const refused = await cni('portmap', 'ADD', portmap);
    expect(refused.code).toBe(1);
    expect(refused.json?.['code']).toBe(7);
    const elements = async () => (await run(['ip', 'netns', 'exec', bed.host, 'nft', 'list', 'table', 'inet', `${fw}_cni`], { check: false })).stdout;
    expect(await elements()).toContain('10.234.40.2');
    // libcni's DEL runs the chain in reverse with the same configs: both must succeed.
    const delPortmap = await cni('portmap', 'DEL', portmap);
    expect(delPortmap.code, delPortmap.stdout).toBe(0);
    const delBridge = await cni('bridge', 'DEL', { ...bridge, mtu: 1, vlanTrunk: [{ id: 5 }] }); // keys ADD would refuse
    expect(delBridge.code, delBridge.stdout).toBe(0);
    expect(await ipj<unknown[]>(ctr, 'link', 'show', 'eth0').catch(() => [])).toEqual([]);
    expect(fs.readdirSync(path.join(dataDir, 'ldnet')).filter((f) => /^\d/u.test(f))).toEqual([]);
    expect(await elements()).not.toContain('10.234.40.2');
    // Safety still holds on DEL: a traversing name or a bad interface name is refused.
    expect((await cni('bridge', 'DEL', { ...bridge, name: '../x' })).json?.['code']).toBe(7);
    expect((await cniExec(bed.bin, 'bridge', 'DEL', bridge, { ...call, ifname: '..' }, env, bed.host)).json?.['code']).toBe(4);
  });
});
