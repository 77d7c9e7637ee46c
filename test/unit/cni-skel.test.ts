import { describe, expect, it } from 'vitest';
import { CniError } from '../../core/src/cni/errors.js';
import { pluginMain, type PluginHandlers, type PluginIo } from '../../core/src/cni/skel.js';
import type { CniResult } from '../../core/src/cni/types.js';
import { convertResult } from '../../core/src/cni/version.js';

const ENV = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
const RESULT: CniResult = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/x', mtu: 1400 }],
  ips: [{ address: '10.1.0.2/24', gateway: '10.1.0.1', interface: 0 }, { address: 'fd00::2/64', interface: 0 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400 }],
};

function fakeIo(command: string, stdin: string, env: Record<string, string> = ENV) {
  const out: string[] = [];
  const err: string[] = [];
  const io: PluginIo = { env: { ...env, CNI_COMMAND: command }, stdin: async () => stdin, stdout: (t) => out.push(t), stderr: (t) => err.push(t) };
  return { io, out: () => out.join(''), err: () => err.join(''), json: () => JSON.parse(out.join('')) as Record<string, unknown> };
}

function handlers(calls: string[] = []): PluginHandlers {
  return {
    add: async (conf, call) => {
      calls.push(`add ${call.containerId} ${call.ifname} ${JSON.stringify(call.args)}`);
      return { ...RESULT, cniVersion: conf.cniVersion };
    },
    del: async () => void calls.push('del'),
    check: async (conf) => void calls.push(`check ${JSON.stringify(conf.prevResult)}`),
    status: async () => void calls.push('status'),
    gc: async () => void calls.push('gc'),
  };
}

const conf = (v: string, extra: object = {}) => JSON.stringify({ cniVersion: v, name: 'n', type: 't', ...extra });

describe('pluginMain', () => {
  it('ADD prints the result converted to the config version; logs only on stderr', async () => {
    const f = fakeIo('ADD', conf('1.0.0'));
    const calls: string[] = [];
    expect(await pluginMain('t', handlers(calls), { ...f.io, env: { ...f.io.env, CNI_ARGS: 'IP=10.1.0.9;K8S_POD_NAME=web' } })).toBe(0);
    expect(f.json()).toEqual({ ...RESULT, cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/x' }], routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }] });
    expect(calls).toEqual(['add c1 eth0 {"IP":"10.1.0.9","K8S_POD_NAME":"web"}']);
    expect(f.err()).toBe('');
  });

  it('VERSION lists the supported versions', async () => {
    const f = fakeIo('VERSION', conf('0.4.0'));
    expect(await pluginMain('t', handlers(), f.io)).toBe(0);
    expect(f.json()).toEqual({ cniVersion: '0.4.0', supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });

  it.each([
    ['malformed JSON', 'ADD', '{"cniVersion":', ENV, 6, /error unmarshalling network config/],
    ['a non-object config', 'ADD', '[1]', ENV, 6, /must be a JSON object/],
    ['an unsupported version', 'ADD', conf('9.9.9'), ENV, 1, /incompatible CNI versions/],
    ['a missing name', 'ADD', JSON.stringify({ cniVersion: '1.0.0', type: 't' }), ENV, 7, /name must be a non-empty string/],
    ['missing env', 'ADD', conf('1.0.0'), { CNI_IFNAME: 'eth0' }, 4, /required env variables \[CNI_CONTAINERID,CNI_NETNS,CNI_PATH\] missing/],
    ['an unknown command', 'FROB', conf('1.0.0'), ENV, 4, /unknown CNI_COMMAND "FROB"/],
    ['a bad CNI_ARGS pair', 'ADD', conf('1.0.0'), { ...ENV, CNI_ARGS: 'novalue' }, 4, /invalid CNI_ARGS pair/],
    ['CHECK before 0.4.0', 'CHECK', conf('0.3.1'), ENV, 1, /does not allow CHECK/],
    ['GC before 1.1.0', 'GC', conf('1.0.0'), ENV, 1, /does not allow GC/],
    ['STATUS before 1.1.0', 'STATUS', conf('1.0.0'), ENV, 1, /does not allow STATUS/],
  ])('%s gets error code %i as JSON on stdout and exit 1', async (_what, cmd, stdin, env, code, msg) => {
    const f = fakeIo(cmd, stdin, env as Record<string, string>);
    expect(await pluginMain('t', handlers(), f.io)).toBe(1);
    expect(f.json()).toMatchObject({ code, msg: expect.stringMatching(msg) });
    expect(f.err()).toMatch(msg);
  });

  it('DEL needs no netns; unknown config keys are ignored', async () => {
    const f = fakeIo('DEL', conf('1.0.0', { whatever: { nested: true } }), { CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_PATH: '/x' });
    const calls: string[] = [];
    expect(await pluginMain('t', handlers(calls), f.io)).toBe(0);
    expect(calls).toEqual(['del']);
    expect(f.out()).toBe('');
  });

  it('CHECK receives prevResult of an older version normalised (no ips[].version)', async () => {
    const prev = convertResult(RESULT, '0.4.0');
    const calls: string[] = [];
    const f = fakeIo('CHECK', conf('0.4.0', { prevResult: prev }));
    expect(await pluginMain('t', handlers(calls), f.io)).toBe(0);
    expect(calls[0]).not.toContain('"version"');
  });

  it('handler failures keep their code; other errors map to 999 or a spec code', async () => {
    const failing = (e: unknown): PluginHandlers => ({ ...handlers(), add: async () => { throw e; } });
    let f = fakeIo('ADD', conf('1.0.0'));
    await pluginMain('t', failing(new CniError(11, 'busy', 'later')), f.io);
    expect(f.json()).toEqual({ cniVersion: '1.0.0', code: 11, msg: 'busy', details: 'later' });
    f = fakeIo('ADD', conf('1.0.0'));
    await pluginMain('t', failing(new Error('boom')), f.io);
    expect(f.json()).toMatchObject({ code: 999, msg: 'boom' });
  });
});

describe('result conversion', () => {
  it('adds ips[].version before 1.0.0 and drops it from 1.0.0 on', () => {
    expect(convertResult(RESULT, '0.3.1').ips).toEqual([
      { address: '10.1.0.2/24', gateway: '10.1.0.1', interface: 0, version: '4' },
      { address: 'fd00::2/64', interface: 0, version: '6' },
    ]);
    expect(convertResult(convertResult(RESULT, '0.3.1'), '1.0.0').ips?.every((i) => i.version === undefined)).toBe(true);
  });
  it('keeps 1.1.0 route and interface fields only for 1.1.0', () => {
    expect(convertResult(RESULT, '1.1.0').routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400 }]);
    expect(convertResult(RESULT, '1.0.0').interfaces?.[0]).not.toHaveProperty('mtu');
  });
});
