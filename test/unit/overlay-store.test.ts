import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError, TsnetError } from '../../core/src/errors.js';
import { EXIT } from '../../core/src/cli/app.js';
import { buildSpec } from '../../core/src/overlay/agent.js';
import { mirroredNetworks, readMirror, StoreModel, writeMirror } from '../../core/src/overlay/mirror.js';
import { openStore } from '../../core/src/overlay/store.js';
import { decodeEndpoint, decodeLease, decodeNetwork, encode } from '../../core/src/overlay/store-codec.js';
import { withDeadline } from '../../core/src/overlay/store-deadline.js';
import { decodeEvent, EtcdStore } from '../../core/src/overlay/store-etcd.js';
import * as K from '../../core/src/overlay/store-keys.js';
import { parseStoreUrl, redact } from '../../core/src/overlay/store-url.js';
import type { HostLease, OverlayNetwork } from '../../core/src/overlay/types.js';

const net: OverlayNetwork = { name: 'n1', id: 'a'.repeat(64), vni: 4096, subnet: '10.226.0.0/16', hostPrefix: 24, internal: false, created: '2026-01-01T00:00:00.000Z', labels: {} };
const lease = (host: string, subnet: string): HostLease => ({ network: 'n1', host, subnet, underlay: '10.229.0.9', vtepMac: '02:00:00:00:00:09' });
const kv = (key: string, value: unknown) => ({ key: Buffer.from(key), value: encode(value), create_revision: '1', mod_revision: '5', version: '1', lease: '0' });

describe('store URL', () => {
  it.each([
    ['etcd://10.0.0.1:2379', { scheme: 'etcd', hosts: ['10.0.0.1:2379'], tls: false, display: 'etcd://10.0.0.1:2379' }],
    ['etcd://a:1,b.example:2,[fd00::1]:3', { hosts: ['a:1', 'b.example:2', '[fd00::1]:3'], display: 'etcd://a:1,b.example:2,[fd00::1]:3' }],
    ['etcds://u:p%40ss@h:2379/', { scheme: 'etcds', tls: true, username: 'u', password: 'p@ss', display: 'etcds://h:2379' }],
  ])('%s parses', (url, want) => {
    expect(parseStoreUrl(url)).toMatchObject(want);
  });

  it.each([
    ['', 'empty'],
    ['http://h:1', 'scheme'],
    ['etcd://h', 'HOST:PORT'],
    ['etcd://h:0', 'out of range'],
    ['etcd://h:70000', 'out of range'],
    ['etcd://h:1/path', 'no path'],
    ['etcd://h:1,h:1', 'twice'],
    ['etcd://bad host:1', 'not an address'],
    ['etcd://user@h:1', 'USER:PASSWORD'],
  ])('%j is INVALID_ARGUMENT (%s)', (url, why) => {
    let e: unknown;
    try {
      parseStoreUrl(url);
    } catch (x) {
      e = x;
    }
    expect((e as TsnetError).code).toBe('INVALID_ARGUMENT');
    expect((e as TsnetError).message).toContain(why);
  });

  it('never shows credentials', () => {
    expect(redact('etcds://root:secret@h:1')).toBe('etcds://h:1');
    let msg = '';
    try {
      parseStoreUrl('etcds://root:secret@h:0');
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).not.toContain('secret');
  });

  it('openStore refuses a bad URL or TLS files on etcd:// before connecting', async () => {
    await expect(openStore('etcd://h')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(openStore('etcd://127.0.0.1:1', { ca: '/nonexistent' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('etcds://') });
    await expect(openStore('etcds://127.0.0.1:1', { ca: '/nonexistent/ca.pem' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('/nonexistent/ca.pem') });
    await expect(openStore('etcds://127.0.0.1:1', { cert: '/etc/hostname' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('key layout and codec', () => {
  it('round-trips every key kind and ignores foreign keys', () => {
    expect(K.parseKey(K.networkKey('n1'))).toEqual({ kind: 'network', network: 'n1' });
    expect(K.parseKey(K.vniKey(42))).toEqual({ kind: 'vni', vni: 42 });
    expect(K.parseKey(K.subnetKey('n1', '10.226.3.0/24'))).toEqual({ kind: 'lease', network: 'n1', subnet: '10.226.3.0/24' });
    expect(K.parseKey(K.hostSubnetKey('n1', 'h1'))).toEqual({ kind: 'hostsubnet', network: 'n1', host: 'h1' });
    expect(K.parseKey(K.endpointKey('n1', 'h1', 'c1'))).toEqual({ kind: 'endpoint', network: 'n1', host: 'h1', containerId: 'c1' });
    expect(K.parseKey(K.aliveKey('h1'))).toEqual({ kind: 'alive', host: 'h1' });
    expect(K.parseKey(K.hostKey('h1'))).toEqual({ kind: 'host', host: 'h1' });
    for (const k of ['/other/x', '/tsnet/v1/', '/tsnet/v1/networks/', '/tsnet/v1/unknown/a', '/tsnet/v1/endpoints/n1/h1', '/tsnet/v1/vnis/x']) expect(K.parseKey(k), k).toBeUndefined();
  });

  it('prefixEnd is the smallest key after the prefix', () => {
    expect(K.prefixEnd('/a/').toString()).toBe('/a0');
    expect([...K.prefixEnd('\xff')]).toEqual([0xc3, 0xc0]);
  });

  it('decoders refuse values that are not their type', () => {
    expect(decodeNetwork(encode(net))).toEqual(net);
    expect(decodeNetwork('{"name":"x"}')).toBeUndefined();
    expect(decodeNetwork('not json')).toBeUndefined();
    expect(decodeNetwork('[1]')).toBeUndefined();
    expect(decodeLease(encode(lease('h', '10.226.1.0/24')))).toEqual(lease('h', '10.226.1.0/24'));
    expect(decodeLease('{"network":"n1"}')).toBeUndefined();
    expect(decodeEndpoint('{"network":"n1","host":"h","containerId":"c","name":"x","aliases":[1],"addresses":[]}')).toBeUndefined();
  });

  it('watch events decode to the contract events; other keys give none', () => {
    expect(decodeEvent('PUT', kv(K.networkKey('n1'), net))).toEqual({ kind: 'network', op: 'put', value: net });
    expect(decodeEvent('DELETE', kv(K.networkKey('n1'), ''))).toEqual({ kind: 'network', op: 'delete', name: 'n1' });
    expect(decodeEvent('DELETE', kv(K.subnetKey('n1', '10.226.1.0/24'), ''))).toEqual({ kind: 'lease', op: 'delete', network: 'n1', subnet: '10.226.1.0/24' });
    expect(decodeEvent('DELETE', kv(K.endpointKey('n1', 'h', 'c'), ''))).toEqual({ kind: 'endpoint', op: 'delete', network: 'n1', host: 'h', containerId: 'c' });
    expect(decodeEvent('PUT', kv(K.aliveKey('h'), {}))).toBeUndefined();
    expect(decodeEvent('PUT', kv(K.networkKey('n1'), 'garbage'))).toBeUndefined();
  });
});

describe('deadline and STORE_UNAVAILABLE', () => {
  it('a call that hangs answers STORE_UNAVAILABLE at its deadline, naming the store and what still works', async () => {
    const t0 = performance.now();
    const e = (await withDeadline('etcd://h:1', 'join network', 200, () => new Promise(() => undefined)).catch((x: unknown) => x)) as TsnetError;
    const ms = performance.now() - t0;
    expect(e).toBeInstanceOf(StoreUnavailableError);
    expect(e.code).toBe('STORE_UNAVAILABLE');
    expect(e.message).toContain('etcd://h:1');
    expect(e.message).toContain('containers on networks this host has joined still start');
    expect(ms).toBeGreaterThanOrEqual(195);
    expect(ms).toBeLessThan(1000);
    expect(EXIT.STORE_UNAVAILABLE).toBe(5);
  });

  it('etcd client errors become STORE_UNAVAILABLE; typed and other errors pass through', async () => {
    class GRPCUnavailableError extends Error {}
    class BrokenCircuitError extends Error {}
    for (const err of [new GRPCUnavailableError('14 UNAVAILABLE'), new BrokenCircuitError('open')]) {
      await expect(withDeadline('etcd://h:1', 'x', 1000, () => Promise.reject(err))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    }
    await expect(withDeadline('etcd://h:1', 'x', 1000, () => Promise.reject(new TsnetError('ALREADY_EXISTS', 'x')))).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(withDeadline('etcd://h:1', 'x', 1000, () => Promise.reject(new TypeError('bug')))).rejects.toBeInstanceOf(TypeError);
  });

  it("a lease keepalive stream's error (grpc-js's own, which etcd3 does not cast) is STORE_UNAVAILABLE too", async () => {
    const host = 'a'.repeat(64);
    // grpc-js gives a stream's failure as a plain Error with a numeric code.
    const grpcError = Object.assign(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded after 2.998s,Waiting for LB pick'), { code: 4, details: 'Deadline exceeded' });
    const stream = Object.assign(new EventEmitter(), { write: () => setImmediate(() => stream.emit('error', grpcError)), end: () => undefined, cancel: () => undefined });
    const client = {
      kv: { range: async () => ({ kvs: [kv(K.hostKey(host), { host, lease: '7' })], header: { revision: '5' } }) },
      leaseClient: { leaseKeepAlive: async () => stream },
    };
    const store = new EtcdStore(client as never, parseStoreUrl('etcd://h:1'), { deadlineMs: 1000, leaseTtl: 60, aliveTtl: 10 });
    const e = (await store.heartbeat({ host, underlay: '10.229.0.9', hostname: 'h' }).catch((x: unknown) => x)) as TsnetError;
    expect(e).toBeInstanceOf(StoreUnavailableError);
    expect(e.message).toMatch(/lease keepalive: 4 DEADLINE_EXCEEDED/u);
  });
});

describe('agent mirror model', () => {
  it('applies a snapshot and events; a positively deleted network is reported; files are atomic JSON', () => {
    const m = new StoreModel();
    m.load({ revision: '10', networks: [net], leases: [lease('h2', '10.226.10.0/24'), lease('h1', '10.226.2.0/24')], endpoints: [] });
    expect([...m.dirty]).toEqual(['n1']);
    expect(m.leasesOf('n1').map((l) => l.subnet)).toEqual(['10.226.2.0/24', '10.226.10.0/24']);
    m.dirty.clear();
    m.apply({ kind: 'endpoint', op: 'put', value: { network: 'n1', host: 'h1', containerId: 'c', name: 'web', aliases: [], addresses: ['10.226.2.2'] } });
    m.apply({ kind: 'lease', op: 'delete', network: 'n1', subnet: '10.226.10.0/24' });
    expect([...m.dirty]).toEqual(['n1']);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-ets-unit-'));
    try {
      writeMirror(dir, m.mirrorOf('n1', '12')!);
      expect(mirroredNetworks(dir)).toEqual(['n1']);
      expect(readMirror(dir, 'n1')).toMatchObject({ revision: '12', leases: [lease('h1', '10.226.2.0/24')], endpoints: [{ name: 'web' }] });
      expect(fs.statSync(path.join(dir, 'overlay', 'n1.json')).mode & 0o777).toBe(0o600);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    m.apply({ kind: 'network', op: 'delete', name: 'n1' });
    expect([...m.deleted]).toEqual(['n1']);
    m.deleted.clear();
    m.load({ revision: '20', networks: [], leases: [], endpoints: [] });
    expect([...m.deleted]).toEqual([]); // already gone: not reported twice
  });

  it('buildSpec: gateway is the first address of the host subnet, MTU underlay - 50 unless the network sets one', () => {
    const s = buildSpec(net, lease('h1', '10.226.2.0/24'), [], { vxlanDev: 'vx', bridgeDev: 'br', underlayDev: 'eth0', underlayMtu: 1500 });
    expect(s).toMatchObject({ vni: 4096, gateway: '10.226.2.1', subnet: '10.226.2.0/24', networkSubnet: '10.226.0.0/16', mtu: 1450, underlay: '10.229.0.9' });
    expect(buildSpec({ ...net, mtu: 1400 }, lease('h1', '10.226.2.0/24'), [], { vxlanDev: 'vx', bridgeDev: 'br', underlayDev: 'eth0', underlayMtu: 1500 }).mtu).toBe(1400);
  });
});
