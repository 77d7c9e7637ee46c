import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEtcdTls, startEtcd, type EtcdTls } from '../helpers/etcd.js';
import { ok, ovdHost, type OvdHost, ovdUnderlay } from '../helpers/ovd-hosts.js';
import { isRoot } from '../helpers/scratch.js';

/**
 * An overlay on an etcds:// store: a one-member etcd with TLS and client-certificate auth in the
 * underlay namespace, two hosts that name the store and its files once (--store, --store-cert,
 * --store-key, --store-ca) and rely on the remembered ones afterwards (their agents too).
 */
const defers: (() => Promise<void> | void)[] = [];
const defer = (fn: () => Promise<void> | void) => void defers.push(fn);
let hosts: OvdHost[];
let tls: EtcdTls;
const URL = 'etcds://10.216.0.2:2379';

describe.skipIf(!isRoot)('overlay on an etcds:// store (TLS, client certificates)', () => {
  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-ovd-tls-'));
    defer(() => fs.rmSync(dir, { recursive: true, force: true }));
    tls = await makeEtcdTls(dir, ['10.216.0.2']);
    const ul = await ovdUnderlay(defer);
    await startEtcd({ ns: ul.ns, addrs: ['10.216.0.2'], basePort: 2379, dev: ul.bridge, tls, defer });
    hosts = [await ovdHost(ul, 0, undefined, defer), await ovdHost(ul, 1, undefined, defer)];
  }, 120_000);

  afterAll(async () => {
    for (const f of defers.reverse()) await Promise.resolve(f()).catch(() => undefined);
  }, 60_000);

  it('bad TLS options are refused before anything happens; no client certificate: the store refuses', async () => {
    const h = hosts[0]!;
    const cases: [string[], number, RegExp][] = [
      [['--store', 'etcd://10.216.0.2:2379', '--store-ca', tls.ca, 'network', 'ls'], 2, /INVALID_ARGUMENT: --store-ca needs an etcds:\/\/ store/u],
      [['--store', URL, '--store-cert', tls.clientCert, 'network', 'ls'], 2, /INVALID_ARGUMENT: --store-cert and --store-key go together/u],
      [['--store', URL, '--store-ca', '/nonexistent/ca.pem', 'network', 'ls'], 2, /INVALID_ARGUMENT: --store-ca \/nonexistent\/ca.pem is not a readable file/u],
    ];
    for (const [args, code, msg] of cases) {
      const r = await h.tsnet(...args);
      expect({ args, code: r.code }).toEqual({ args, code });
      expect(r.stderr).toMatch(msg);
    }
    expect(fs.existsSync(path.join(h.stateDir, 'config.json')) ? JSON.parse(fs.readFileSync(path.join(h.stateDir, 'config.json'), 'utf8')).store : undefined).toBeUndefined();
    const r = await h.tsnet('--store', URL, '--store-ca', tls.ca, 'network', 'create', '-d', 'overlay', '--subnet', '10.217.0.0/16', 'ovdtls');
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/STORE_UNAVAILABLE/u);
  }, 60_000);

  it('with the client certificate: create, join on two hosts (remembered store and files), traffic across', async () => {
    const flags = (h: OvdHost) => h.tsnet('--store', URL, '--store-cert', tls.clientCert, '--store-key', tls.clientKey, '--store-ca', tls.ca, 'network', 'ls');
    for (const h of hosts) await ok(flags(h));
    for (const h of hosts) expect(JSON.parse(fs.readFileSync(path.join(h.stateDir, 'config.json'), 'utf8'))).toMatchObject({ store: URL, storeTls: { cert: tls.clientCert, key: tls.clientKey, ca: tls.ca } });
    // From here on no store option: the remembered one (and its files) is used, by the agents too.
    await ok(hosts[0]!.tsnet('network', 'create', '-d', 'overlay', '--subnet', '10.217.0.0/16', 'ovdtls'));
    await ok(hosts[0]!.tsnet('run', '-d', '--network', 'ovdtls', '--name', 'ovdt0', '--', 'sleep', '600'));
    await ok(hosts[1]!.tsnet('run', '-d', '--network', 'ovdtls', '--name', 'ovdt1', '--', 'sleep', '600'));
    const addr = async (h: OvdHost, n: string) => (await h.json<{ name: string; addresses: string[] }[]>('ps')).find((c) => c.name === n)!.addresses[0]!.slice('ovdtls:'.length).split('/')[0]!;
    const a1 = await addr(hosts[1]!, 'ovdt1');
    let code = 1;
    for (let i = 0; i < 40 && code !== 0; i++) {
      code = (await hosts[0]!.exec(['ip', 'netns', 'exec', hosts[0]!.netnsOf('ovdt0'), 'ping', '-c', '1', '-W', '1', a1], false)).code;
      if (code !== 0) await new Promise((r) => setTimeout(r, 250));
    }
    expect(code).toBe(0);
    const ins = (await hosts[1]!.json<{ store: { url: string; source: string }; hosts: { alive: boolean }[] }[]>('network', 'inspect', 'ovdtls'))[0]!;
    expect(ins.store).toEqual({ url: URL, source: 'store' });
    expect(ins.hosts.length).toBe(2);
  }, 60_000);
});
