import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allocate, checkSubnetFree, hostSubnets, LeaseStore, parseRangeSet, pickSubnet, release, run } from '../../core/src/index.js';
import { isRoot, scratchNetns } from '../helpers/scratch.js';
import { tmpDir } from '../helpers/tmpdir.js';

const HOST_LOCAL = '/usr/lib/cni/host-local';
const hasReference = fs.existsSync(HOST_LOCAL);

describe.skipIf(!isRoot)('IPAM against a real host (root)', () => {
  it('subnet picking skips a namespace route and address that conflict, and names them on overlap', async () => {
    const s = scratchNetns('pool');
    await s.nl.linkAdd({ kind: 'veth', name: 'vpn0', peer: { name: 'vpn1' } });
    await s.nl.linkSetUp('vpn0');
    await s.nl.routeAdd({ dst: '172.18.0.0/16', dev: 'vpn0' });
    await s.nl.addrAdd('vpn0', '172.19.7.1/24');
    const taken = await hostSubnets(s.nl);
    expect(taken).toContainEqual({ cidr: '172.18.0.0/16', owner: 'host route 172.18.0.0/16 dev vpn0', dev: 'vpn0' });
    expect(taken).toContainEqual(expect.objectContaining({ cidr: '172.19.7.0/24' }));
    expect(pickSubnet(taken)).toBe('172.20.0.0/16');
    expect(() => checkSubnetFree('172.18.128.0/17', taken)).toThrow(
      expect.objectContaining({ code: 'SUBNET_OVERLAP', message: 'subnet 172.18.128.0/17 overlaps host route 172.18.0.0/16 dev vpn0 (172.18.0.0/16)' }),
    );
    // A default route does not make every subnet "taken".
    await s.nl.addrAdd('vpn0', '10.60.0.2/24');
    await s.nl.routeAdd({ dst: 'default', gateway: '10.60.0.1' });
    expect(pickSubnet(await hostSubnets(s.nl))).toBe('172.20.0.0/16');
  });
});

/** Calls the reference host-local executable exactly as a runtime does. */
async function refHostLocal(command: 'ADD' | 'DEL', id: string, dataDir: string) {
  const conf = { cniVersion: '1.0.0', name: 'interop', ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.70.0.0/24' }]] } };
  const r = await run([HOST_LOCAL], {
    input: JSON.stringify(conf),
    check: false,
    env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', PATH: process.env['PATH'] },
  });
  if (r.code !== 0) throw new Error(`host-local ${command}: ${r.stdout}${r.stderr}`);
  return r.stdout ? (JSON.parse(r.stdout) as { ips?: { address: string }[] }) : {};
}

describe.skipIf(!isRoot || !hasReference)('interop with the reference host-local (containernetworking-plugins)', () => {
  it('shares one data dir both ways without handing out an address twice', async () => {
    const dataDir = tmpDir('interop');
    const store = new LeaseStore(path.join(dataDir, 'interop'), 'interop');
    const set = [parseRangeSet([{ subnet: '10.70.0.0/24' }])];
    const ref1 = await refHostLocal('ADD', 'ref1', dataDir);
    expect(ref1.ips?.[0]?.address).toBe('10.70.0.2/24');
    const [ours] = await allocate(store, { key: { id: 'ours1', ifname: 'eth0' }, rangeSets: set });
    expect(ours!.ip).toBe('10.70.0.3'); // continues after host-local's last_reserved_ip.0
    const ref2 = await refHostLocal('ADD', 'ref2', dataDir);
    expect(ref2.ips?.[0]?.address).toBe('10.70.0.4/24'); // and host-local continues after ours
    expect(store.owner('10.70.0.2')).toEqual({ id: 'ref1', ifname: 'eth0' });
    // host-local releases by scanning file contents: it frees ours when asked with our ID.
    await refHostLocal('DEL', 'ours1', dataDir);
    expect(store.isTaken('10.70.0.3')).toBe(false);
    // and we release what host-local wrote.
    expect(await release(store, { id: 'ref2', ifname: 'eth0' })).toEqual(['10.70.0.4']);
  });
});
