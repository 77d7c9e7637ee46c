import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CniError } from '../../core/src/cni/errors.js';
import { TsnetError } from '../../core/src/errors.js';
import { mkdirs } from '../../core/src/state/atomic.js';
import { StateStore } from '../../core/src/state/store.js';
import { legacyResult } from '../../core/src/cni/version.js';
import { parseCniConf, checkResult } from '../../core/src/validate/cni-conf.js';
import { parseCniEnv } from '../../core/src/validate/cni-env.js';
import { validateCniNetworkName, validateContainerId, validateObjectName, validatePathComponent } from '../../core/src/validate/names.js';
import { validateAbsolutePath } from '../../core/src/validate/paths.js';

const env = (over: Record<string, string | undefined>) => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', ...over });
const conf = (over: Record<string, unknown>) => JSON.stringify({ cniVersion: '1.0.0', name: 'net1', type: 'bridge', ...over });
const cniErr = (code: number, msg: RegExp, details?: string) => expect.objectContaining({ code, message: expect.stringMatching(msg), ...(details ? { details } : {}) });

describe('names', () => {
  it.each(['../config', '../../x', 'a/b', '..', '.hidden', '-x', 'a b', 'a\0b', '', 'x'.repeat(65), 'é'])('refuses network name %j', (n) => {
    expect(() => validateObjectName('network', n)).toThrow(expect.objectContaining({ code: 'INVALID_NAME' }));
  });
  it.each(['a', 'frontend', 'my_net.1-2', 'x'.repeat(64)])('accepts network name %j', (n) => expect(validateObjectName('network', n)).toBe(n));
  it('keeps a 1 MiB name out of the message', () => {
    const big = 'a'.repeat(1 << 20);
    try {
      validateCniNetworkName(big);
      expect.unreachable();
    } catch (e) {
      expect((e as TsnetError).message.length).toBeLessThan(300);
      expect((e as TsnetError).message).toMatch(/1048576 characters/);
    }
  });
  it('container IDs: the reference charset, at most 200 bytes', () => {
    expect(validateContainerId('a'.repeat(64))).toHaveLength(64);
    expect(() => validateContainerId('a'.repeat(201))).toThrow(/at most 200/);
    expect(() => validateContainerId('../x')).toThrow(/invalid characters/);
  });
  it.each(['', '.', '..', 'a/b', 'a\0', 'x'.repeat(256)])('a path component is never %j', (p) => {
    expect(() => validatePathComponent('state', p)).toThrow(TsnetError);
  });
});

describe('paths', () => {
  it.each([
    ['rel', /not an absolute path/],
    ['/a/../b', /"\.\." component/],
    ['/proc/nope', /under \/proc/],
    ['/sys/x', /under \/proc/],
    [`/${'x'.repeat(256)}`, /component longer than 255/],
    [`/${'x/'.repeat(2100)}`, /longer than 4096/],
    ['/a\0b', /contains NUL/],
  ])('refuses %j', (p, msg) => {
    expect(() => validateAbsolutePath('dir', p, { noPseudo: true })).toThrow(msg);
  });
  it('allowed roots', () => {
    expect(validateAbsolutePath('x', '/run/netns/a', { under: ['/run/netns'] })).toBe('/run/netns/a');
    expect(() => validateAbsolutePath('x', '/run/netnsx', { under: ['/run/netns'] })).toThrow(/not under/);
  });
  it('mkdirs ends with a typed error under /proc instead of spinning', () => {
    const t0 = Date.now();
    expect(() => mkdirs('/proc/nope/deeper', 0o700)).toThrow(expect.objectContaining({ code: 'IO_ERROR' }));
    expect(Date.now() - t0).toBeLessThan(1000);
  });
  it('mkdirs makes the tree 0700 and refuses a file in the way', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-mk-'));
    mkdirs(path.join(root, 'a/b/c'), 0o700);
    expect(fs.statSync(path.join(root, 'a/b/c')).mode & 0o777).toBe(0o700);
    fs.writeFileSync(path.join(root, 'f'), '');
    expect(() => mkdirs(path.join(root, 'f/x'), 0o700)).toThrow(expect.objectContaining({ code: 'IO_ERROR' }));
    fs.rmSync(root, { recursive: true });
  });
});

describe('CNI environment', () => {
  it.each([
    [{ CNI_COMMAND: undefined }, /CNI_COMMAND/],
    [{ CNI_COMMAND: 'NOPE' }, /unknown CNI_COMMAND/],
    [{ CNI_NETNS: undefined }, /\[CNI_NETNS\] missing/],
    [{ CNI_IFNAME: '.' }, /CNI_IFNAME: .*reserved/],
    [{ CNI_IFNAME: '..' }, /CNI_IFNAME: .*reserved/],
    [{ CNI_IFNAME: 'sixteen-bytes-xx' }, /CNI_IFNAME: .*16 bytes/],
    [{ CNI_IFNAME: 'a b' }, /CNI_IFNAME/],
    [{ CNI_IFNAME: 'x'.repeat(100_000) }, /CNI_IFNAME: .*100000 bytes/],
    [{ CNI_CONTAINERID: 'x'.repeat(1 << 20) }, /CNI_CONTAINERID: .*at most 200/],
    [{ CNI_CONTAINERID: '../../etc' }, /CNI_CONTAINERID/],
    [{ CNI_NETNS: 'relative/ns' }, /CNI_NETNS: .*not an absolute path/],
    [{ CNI_PATH: 'bin:/opt' }, /CNI_PATH/],
    [{ CNI_ARGS: 'novalue' }, /invalid CNI_ARGS pair/],
    [{ CNI_ARGS: 'K=V;=x' }, /invalid CNI_ARGS pair/],
    [{ CNI_ARGS: `IP=${'1'.repeat(5000)}` }, /longer than 4096/],
  ])('refuses %j with code 4', (over, msg) => {
    expect(() => parseCniEnv(env(over))).toThrow(cniErr(4, msg));
  });
  it('VERSION and STATUS judge no variable (libcni validates configs with CNI_NETNS=dummy)', () => {
    for (const c of ['VERSION', 'STATUS']) expect(parseCniEnv({ CNI_COMMAND: c, CNI_NETNS: 'dummy', CNI_CONTAINERID: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: 'rel' }).command).toBe(c);
  });
  it('DEL needs no netns; GC needs only CNI_PATH', () => {
    expect(parseCniEnv(env({ CNI_COMMAND: 'DEL', CNI_NETNS: undefined })).netns).toBe('');
    expect(parseCniEnv({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }).command).toBe('GC');
  });
});

describe('CNI configuration', () => {
  it.each([
    ['{', 6, /unmarshalling/],
    ['[]', 6, /JSON object/],
    [conf({ cniVersion: '9.9.9' }), 1, /incompatible/],
    [conf({ name: '../../../x' }), 7, /invalid characters/],
    [conf({ name: 'a/b' }), 7, /invalid characters/],
    [conf({ name: '..' }), 7, /network name/],
    [conf({ name: 'x'.repeat(129) }), 7, /at most 128/],
    [conf({ name: 7 }), 7, /name must be a non-empty string/],
    [conf({ type: '../bin/sh' }), 7, /not a plugin name/],
    [conf({ runtimeConfig: 'x' }), 7, /runtimeConfig must be an object/],
    [conf({ args: [1] }), 7, /args must be an object/],
    [conf({ dns: 'x' }), 7, /dns must be an object/],
    [conf({ dns: { nameservers: ['garbage'] } }), 7, /dns.nameservers\[0\]/],
    [conf({ dns: { search: 'a' } }), 7, /dns.search must be an array/],
    [conf({ capabilities: { portMappings: 'yes' } }), 7, /capabilities.portMappings must be a boolean/],
    [conf({ ipam: 'host-local' }), 7, /ipam must be an object/],
    [conf({ prevResult: 'garbage' }), 7, /prevResult must be an object/],
    [conf({ prevResult: { ips: [{ address: 'garbage' }] } }), 7, /prevResult.ips\[0\].address/],
    [conf({ prevResult: { ips: [{ address: '10.0.0.2/24', gateway: 'fd00::1' }] } }), 7, /family/],
    [conf({ prevResult: { interfaces: [{ name: 'eth0' }], ips: [{ address: '10.0.0.2/24', interface: 3 }] } }), 7, /interface must be an integer 0-0/],
    [conf({ prevResult: { routes: [{ dst: 'x' }] } }), 7, /prevResult.routes\[0\].dst/],
    [conf({ 'cni.dev/valid-attachments': [{ containerID: 1 }] }), 7, /valid-attachments/],
  ])('refuses %s with code %i', (text, code, msg) => {
    expect(() => parseCniConf(text)).toThrow(cniErr(code, msg));
  });
  it('accepts a well-formed config with null optional objects and unknown keys', () => {
    const c = parseCniConf(conf({ ipam: null, prevResult: null, somethingNew: { x: 1 }, dns: { nameservers: ['10.0.0.53'] } }));
    expect(c.ipam).toBeUndefined();
    expect(c['somethingNew']).toEqual({ x: 1 });
  });
  it('a config without cniVersion (or with "" or null) is 0.1.0, as libcni reads it', () => {
    for (const v of [undefined, '', null]) expect(parseCniConf(JSON.stringify({ name: 'n', type: 'bridge', cniVersion: v })).cniVersion).toBe('0.1.0');
  });
  it("a 0.1.0/0.2.0 result is ip4/ip6 with each family's routes", () => {
    const r = legacyResult({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1' }, { address: 'fd00::2/64' }], routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00::1' }], dns: {} }, '0.2.0');
    expect(r).toEqual({ cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/24', gateway: '10.0.0.1', routes: [{ dst: '0.0.0.0/0' }] }, ip6: { ip: 'fd00::2/64', routes: [{ dst: '::/0', gw: 'fd00::1' }] } });
  });
  it('normalises a pre-1.0 prevResult', () => {
    const r = checkResult({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.0.0.2/24', gateway: '10.0.0.1' }] }, 'prevResult');
    expect(r.ips).toEqual([{ address: '10.0.0.2/24', gateway: '10.0.0.1' }]);
  });
  it('refuses a config over 4 MiB with code 6', () => {
    expect(() => parseCniConf(conf({ pad: 'x'.repeat(5 << 20) }))).toThrow(CniError);
  });
});

describe('state store paths', () => {
  it('reads of names that cannot exist find nothing; writes refuse them', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-st-'));
    const store = new StateStore(root);
    fs.writeFileSync(path.join(root, 'config.json'), '{"firewallDriver":"none"}');
    expect(store.network('../config')).toBeUndefined();
    expect(() => store.deleteNetwork('../x')).toThrow(expect.objectContaining({ code: 'INVALID_NAME' }));
    expect(() => store.ipam('..')).toThrow(expect.objectContaining({ code: 'INVALID_NAME' }));
    expect(() => new StateStore('/proc/self')).toThrow(/pseudo filesystems/);
    expect(fs.existsSync(path.join(root, 'config.json'))).toBe(true);
    fs.rmSync(root, { recursive: true });
  });
});
