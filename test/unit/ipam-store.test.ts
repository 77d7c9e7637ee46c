import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allocate, gc, LeaseStore, parseRangeSet, release } from '../../core/src/index.js';
import { tmpDir } from '../helpers/tmpdir.js';

const v4 = parseRangeSet([{ subnet: '10.30.0.0/24' }]);
const v6 = parseRangeSet([{ subnet: 'fd00:30::/64' }]);
const key = (id: string, ifname = 'eth0') => ({ id, ifname });
const files = (dir: string) => fs.readdirSync(dir).filter((n) => !n.startsWith('.') && n !== 'lock').sort();

describe('IPAM on disk', () => {
  it('allocates, stores in the host-local layout, and is idempotent per key', async () => {
    const dir = tmpDir();
    const store = new LeaseStore(dir, 'net1');
    const [a] = await allocate(store, { key: key('c1'), rangeSets: [v4] });
    expect(a).toEqual({ ip: '10.30.0.2', family: 4, prefix: 24, cidr: '10.30.0.2/24', subnet: '10.30.0.0/24', gateway: '10.30.0.1', rangeSet: 0 });
    expect(fs.readFileSync(path.join(dir, '10.30.0.2'), 'utf8')).toBe('c1\r\neth0');
    expect(fs.readFileSync(path.join(dir, 'last_reserved_ip.0'), 'utf8')).toBe('10.30.0.2');
    expect(await allocate(store, { key: key('c1'), rangeSets: [v4] })).toEqual([a]);
    const [b] = await allocate(store, { key: key('c1', 'eth1'), rangeSets: [v4] });
    expect(b!.ip).toBe('10.30.0.3');
    expect(files(dir)).toEqual(['10.30.0.2', '10.30.0.3', 'last_reserved_ip.0']);
    expect((fs.statSync(dir).mode & 0o777).toString(8)).toBe('700');
    expect((fs.statSync(path.join(dir, '10.30.0.2')).mode & 0o777).toString(8)).toBe('600');
  });

  it('release frees only that key, is idempotent, and freed addresses are not reused at once', async () => {
    const store = new LeaseStore(tmpDir(), 'net1');
    await allocate(store, { key: key('c1'), rangeSets: [v4] });
    await allocate(store, { key: key('c2'), rangeSets: [v4] });
    expect(await release(store, key('c1'))).toEqual(['10.30.0.2']);
    expect(await release(store, key('c1'))).toEqual([]);
    expect(await release(store, key('never'))).toEqual([]);
    expect(store.owner('10.30.0.3')).toEqual(key('c2'));
    const [c] = await allocate(store, { key: key('c3'), rangeSets: [v4] });
    expect(c!.ip).toBe('10.30.0.4');
  });

  it('the round-robin hint is rewritten in place to exactly the new address, and a damaged hint is ignored', async () => {
    const dir = tmpDir();
    const store = new LeaseStore(dir, 'net1');
    const hint = path.join(dir, 'last_reserved_ip.0');
    fs.writeFileSync(hint, '10.30.0.100');
    const [a] = await allocate(store, { key: key('c1'), rangeSets: [v4] });
    expect(a!.ip).toBe('10.30.0.101');
    fs.writeFileSync(hint, '10.30.0.254');
    const [b] = await allocate(store, { key: key('c2'), rangeSets: [v4] });
    expect(b!.ip).toBe('10.30.0.2'); // wrapped; the shorter address leaves no tail of the longer one
    expect(fs.readFileSync(hint, 'utf8')).toBe('10.30.0.2');
    // What a crash in the middle of the write could leave: the scan starts over from the range's start.
    for (const bad of ['10.30.0.2540', '10.30.', '\0\0\0', '']) {
      fs.writeFileSync(hint, bad);
      const [c] = await allocate(store, { key: key(`bad${bad.length}`), rangeSets: [v4] });
      expect(c!.ip).toMatch(/^10\.30\.0\.\d+$/u);
      await release(store, key(`bad${bad.length}`));
    }
  });

  it('dual stack: one address per range set, released together', async () => {
    const store = new LeaseStore(tmpDir(), 'dual');
    const leases = await allocate(store, { key: key('c1'), rangeSets: [v4, v6] });
    expect(leases.map((l) => l.cidr)).toEqual(['10.30.0.2/24', 'fd00:30::2/64']);
    expect(leases[1]!.gateway).toBe('fd00:30::1');
    expect((await release(store, key('c1'))).sort()).toEqual(['10.30.0.2', 'fd00:30::2']);
    expect(store.leases()).toEqual([]);
  });

  it('requested addresses are honoured or refused clearly, with no state change on refusal', async () => {
    const dir = tmpDir();
    const store = new LeaseStore(dir, 'net1');
    const [r] = await allocate(store, { key: key('c1'), rangeSets: [v4], requested: ['10.30.0.77'] });
    expect(r!.ip).toBe('10.30.0.77');
    const before = files(dir);
    await expect(allocate(store, { key: key('c2'), rangeSets: [v4], requested: ['10.30.0.77'] })).rejects.toMatchObject({
      code: 'ADDRESS_IN_USE',
      message: 'requested address 10.30.0.77 is already in use in network net1',
    });
    await expect(allocate(store, { key: key('c2'), rangeSets: [v4], requested: ['10.31.0.5'] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'requested address 10.31.0.5 is outside every range of network net1',
    });
    await expect(allocate(store, { key: { id: 'bad/id', ifname: 'eth0' }, rangeSets: [v4] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(allocate(store, { key: { id: 'c9', ifname: 'x'.repeat(16) }, rangeSets: [v4] })).rejects.toMatchObject({ code: 'INVALID_NAME' });
    expect(files(dir)).toEqual(before);
    expect(fs.readdirSync(path.join(dir, '.keys'))).toEqual(['c1@eth0']);
  });

  it('exhaustion names the network and its size, and changes nothing', async () => {
    const dir = tmpDir();
    const store = new LeaseStore(dir, 'tiny');
    const set = parseRangeSet([{ subnet: '10.40.0.0/30' }]);
    await allocate(store, { key: key('c1'), rangeSets: [set] });
    const before = files(dir);
    await expect(allocate(store, { key: key('c2'), rangeSets: [set] })).rejects.toMatchObject({
      code: 'POOL_EXHAUSTED',
      message: 'no free address in network tiny: all 1 addresses of 10.40.0.1-10.40.0.2 are allocated',
    });
    expect(files(dir)).toEqual(before);
  });

  it('a crash after writing the intent but before the address file is repaired by the next call', async () => {
    const dir = tmpDir();
    const store = new LeaseStore(dir, 'net1');
    await allocate(store, { key: key('c1'), rangeSets: [v4] });
    // Simulate: c2's index says 10.30.0.3, its address file was never written, and c3 then took .3.
    fs.writeFileSync(path.join(dir, '.keys', 'c2@eth0'), '10.30.0.3\n');
    fs.writeFileSync(path.join(dir, '10.30.0.3'), 'c3\r\neth0');
    fs.writeFileSync(path.join(dir, '.keys', '.tmp-c4@eth0.abcd'), 'torn');
    const [c2] = await allocate(store, { key: key('c2'), rangeSets: [v4] });
    expect(c2!.ip).not.toBe('10.30.0.3');
    expect(store.owner(c2!.ip)).toEqual(key('c2'));
    expect(store.owner('10.30.0.3')).toEqual(key('c3'));
    // Releasing c2 never touches c3's address.
    await release(store, key('c2'));
    expect(store.owner('10.30.0.3')).toEqual(key('c3'));
  });

  it('reads and releases leases written by the reference host-local (no index)', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, '10.30.0.9'), 'ref1\r\neth0');
    fs.writeFileSync(path.join(dir, '10.30.0.10'), 'old1'); // pre-ifname format
    const store = new LeaseStore(dir, 'net1');
    expect(store.isTaken('10.30.0.9')).toBe(true);
    expect(await release(store, key('ref1'))).toEqual(['10.30.0.9']);
    expect(await release(store, key('old1'))).toEqual(['10.30.0.10']);
  });

  it('gc keeps only valid attachments and removes stale index entries and temp files', async () => {
    const dir = tmpDir();
    const store = new LeaseStore(dir, 'net1');
    for (const id of ['a', 'b', 'c']) await allocate(store, { key: key(id), rangeSets: [v4] });
    fs.writeFileSync(path.join(dir, '.tmp-10.30.0.99.beef'), '');
    const report = await gc(store, [key('b')]);
    expect(report.released.map((r) => r.key.id).sort()).toEqual(['a', 'c']);
    expect(report.staleIndex.map((k) => k.id).sort()).toEqual(['a', 'c']);
    expect(report.tempFiles).toBe(1);
    expect(store.leases()).toEqual([{ ip: '10.30.0.3', key: key('b') }]);
    expect(fs.readdirSync(path.join(dir, '.keys'))).toEqual(['b@eth0']);
  });
});
