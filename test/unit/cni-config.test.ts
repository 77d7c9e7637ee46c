import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHostLocal, readResolvConf } from '../../core/src/cni/ipam/host-local.js';
import type { CniCall, NetConf } from '../../core/src/cni/types.js';
import { parseBridgeConf } from '../../plugins/bridge/config.js';
import { vlanRanges } from '../../plugins/bridge/vlans.js';

const base: NetConf = { cniVersion: '1.0.0', name: 'n', type: 'bridge' };

describe('bridge config (the reference keys)', () => {
  it('defaults like the reference: cni0, and isDefaultGateway implies isGateway', () => {
    expect(parseBridgeConf(base)).toMatchObject({ bridge: 'cni0', isGateway: false, ipMasq: false, hairpinMode: false, enableDad: false });
    expect(parseBridgeConf({ ...base, isDefaultGateway: true })).toMatchObject({ isGateway: true, isDefaultGateway: true });
  });
  it.each([
    [{ mtu: 'big' }, 7, /mtu must be a number, got "big"/],
    [{ ipMasq: 'yes' }, 7, /ipMasq must be a boolean/],
    [{ bridge: 'x'.repeat(16) }, 7, /bridge: invalid interface name/],
    [{ mtu: 10 }, 7, /mtu 10 is not in 68-65535/],
    [{ vlan: 4095 }, 7, /vlan must be an integer 0-4094, got 4095/],
    [{ vlan: -1 }, 7, /vlan must be an integer 0-4094/],
    [{ vlan: 1.5 }, 7, /vlan must be an integer 0-4094/],
    [{ vlan: '10' }, 7, /vlan must be a number/],
    [{ vlanTrunk: { id: 5 } }, 7, /vlanTrunk must be an array/],
    [{ vlanTrunk: [5] }, 7, /vlanTrunk\[0\] must be an object/],
    [{ vlanTrunk: [{}] }, 7, /vlanTrunk\[0\] needs "id" or "minID" and "maxID"/],
    [{ vlanTrunk: [{ id: 0 }] }, 7, /vlanTrunk\[0\].id must be an integer 1-4094, got 0/],
    [{ vlanTrunk: [{ id: 4095 }] }, 7, /vlanTrunk\[0\].id must be an integer 1-4094/],
    [{ vlanTrunk: [{ id: 5 }, { minID: 10 }] }, 7, /vlanTrunk\[1\]: minID and maxID go together, maxID is missing/],
    [{ vlanTrunk: [{ maxID: 10 }] }, 7, /minID is missing/],
    [{ vlanTrunk: [{ minID: 20, maxID: 10 }] }, 7, /minID 20 is greater than maxID 10/],
    [{ vlanTrunk: [{ minID: 0, maxID: 10 }] }, 7, /vlanTrunk\[0\].minID must be an integer 1-4094/],
    [{ vlanTrunk: [{ minId: 1, maxId: 3 }] }, 7, /unknown key "minId"/],
    [{ preserveDefaultVlan: 'yes' }, 7, /preserveDefaultVlan must be a boolean/],
    [{ macspoofchk: 1 }, 7, /macspoofchk must be a boolean/],
    [{ disableContainerInterface: 'true' }, 7, /disableContainerInterface must be a boolean/],
    [{ disableContainerInterface: true, ipam: { type: 'host-local', subnet: '10.212.0.0/24' } }, 7, /disableContainerInterface cannot be used with ipam/],
    [{ bridge: 'abcdefghijk', vlan: 1000, isGateway: true }, 7, /interface name/],
  ])('refuses %j with code %i naming the key', (extra, code, msg) => {
    expect(() => parseBridgeConf({ ...base, ...extra })).toThrow(expect.objectContaining({ code, message: expect.stringMatching(msg) }));
  });
  it('reads the VLAN keys as the reference: trunk VIDs collected and sorted, filtering on with either, preserveDefaultVlan off by default', () => {
    expect(parseBridgeConf(base)).toMatchObject({ vlan: 0, vlanFiltering: false, preserveDefaultVlan: false, macSpoofChk: false, disableContainerInterface: false });
    expect(parseBridgeConf({ ...base, vlan: 10 })).toMatchObject({ vlan: 10, vlanFiltering: true });
    const t = parseBridgeConf({ ...base, vlanTrunk: [{ id: 7 }, { minID: 3, maxID: 5 }, { id: 4 }, { minID: 9, maxID: 9, id: 100 }] });
    expect(t.vlanTrunk).toEqual([3, 4, 5, 7, 9, 100]);
    expect(t.vlanFiltering).toBe(true);
    expect(parseBridgeConf({ ...base, vlanTrunk: [] })).toMatchObject({ vlanTrunk: [], vlanFiltering: true });
    expect(parseBridgeConf({ ...base, vlan: 0, preserveDefaultVlan: true, macspoofchk: true, disableContainerInterface: true })).toMatchObject({ vlanFiltering: false, preserveDefaultVlan: true, macSpoofChk: true, disableContainerInterface: true });
  });
  it('macspoofchk refuses a container ID whose rule comment nftables cannot hold (code 7)', () => {
    const call: CniCall = { command: 'ADD', containerId: 'c'.repeat(120), netns: '/run/netns/x', ifname: 'eth0', args: {}, path: [] };
    expect(() => parseBridgeConf({ ...base, macspoofchk: true }, call)).toThrow(expect.objectContaining({ code: 7, message: expect.stringMatching(/nftables allows 128/) }));
    expect(() => parseBridgeConf({ ...base, macspoofchk: true }, { ...call, containerId: 'c'.repeat(64) })).not.toThrow();
    expect(() => parseBridgeConf({ ...base }, call)).not.toThrow(); // only with macspoofchk
  });
});

describe('vlanTrunk ranges', () => {
  it('sorted VIDs become the fewest ranges', () => {
    expect(vlanRanges([1, 2, 3, 5, 7, 8, 4094])).toEqual([{ vid: 1, vidEnd: 3 }, { vid: 5 }, { vid: 7, vidEnd: 8 }, { vid: 4094 }]);
    expect(vlanRanges([])).toEqual([]);
  });
});

describe('host-local config', () => {
  it('reads ranges (dual stack), routes and dataDir, or the legacy single range', () => {
    const hl = parseHostLocal({ ...base, ipam: { type: 'host-local', dataDir: '/d', ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/64' }]], routes: [{ dst: '0.0.0.0/0' }] } });
    expect(hl.ranges.map((s) => s[0]!.subnet)).toEqual(['10.0.0.0/24', 'fd00::/64']);
    expect(hl.routes).toEqual([{ dst: '0.0.0.0/0' }]);
    expect(hl.dataDir).toBe('/d');
    const legacy = parseHostLocal({ ...base, ipam: { type: 'host-local', subnet: '10.9.0.0/16', rangeStart: '10.9.1.1', rangeEnd: '10.9.1.9' } });
    expect(legacy.dataDir).toBe('/var/lib/cni/networks');
    expect(legacy.ranges[0]![0]!.end - legacy.ranges[0]![0]!.start).toBe(8n);
  });
  it.each([
    [{ type: 'host-local' }, /needs ipam.ranges or ipam.subnet/],
    [{ type: 'host-local', ranges: 'x' }, /ipam.ranges must be an array/],
    [{ type: 'host-local', ranges: [{ subnet: '10.0.0.0/24' }] }, /ipam.ranges\[0\] must be an array of ranges/],
    [{ type: 'host-local', ranges: [[{ subnet: '10.0.0.0/33' }]] }, /ipam.ranges\[0\]: invalid subnet/],
    [{ type: 'host-local', subnet: '10.0.0.0/24', routes: [{ gw: '10.0.0.1' }] }, /ipam.routes\[0\].dst must be a CIDR string/],
    [{ type: 'host-local', subnet: '10.0.0.0/24', routes: [{ dst: 'garbage' }] }, /ipam.routes\[0\].dst "garbage" is not a CIDR/],
    [{ type: 'host-local', subnet: '10.0.0.0/24', routes: [{ dst: '0.0.0.0/0', gw: 'bad' }] }, /ipam.routes\[0\].gw "bad" is not an IP address/],
    [{ type: 'host-local', subnet: '10.0.0.0/24', routes: [{ dst: '0.0.0.0/0', gw: 'fd00::1' }] }, /not of the family of dst/],
    [{ type: 'host-local', subnet: '10.0.0.0/24', dataDir: 'relative/dir' }, /ipam.dataDir "relative\/dir" is not an absolute path/],
    [{ type: 'host-local', subnet: '10.0.0.0/24', dataDir: '/proc/nope' }, /ipam.dataDir "\/proc\/nope" is under \/proc/],
    [{ type: 'host-local', subnet: '10.0.0.0/24', dataDir: '/var/lib/../../etc' }, /contains a "\.\." component/],
    [{ type: 'host-local', subnet: '10.0.0.0/24', resolvConf: 'resolv.conf' }, /ipam.resolvConf "resolv.conf" is not an absolute path/],
  ])('refuses %j with code 7', (ipam, msg) => {
    expect(() => parseHostLocal({ ...base, ipam })).toThrow(expect.objectContaining({ code: 7, message: expect.stringMatching(msg) }));
  });
  it('reads resolvConf into the dns field', () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-rc-')), 'resolv.conf');
    fs.writeFileSync(f, 'nameserver 10.0.0.53\nnameserver 10.0.0.54\nsearch a.example b.example\ndomain a.example\noptions ndots:2\n');
    expect(readResolvConf(f)).toEqual({ nameservers: ['10.0.0.53', '10.0.0.54'], search: ['a.example', 'b.example'], domain: 'a.example', options: ['ndots:2'] });
    fs.rmSync(path.dirname(f), { recursive: true });
  });
});
