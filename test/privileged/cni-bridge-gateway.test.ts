import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { installPlugins } from '../../core/src/cni/install.js';
import { run } from '../../core/src/exec.js';
import { CaseContext } from '../../conformance/src/context.js';
import { isRoot } from '../helpers/scratch.js';

/** The bridge's gateway address (isGateway) beside another address of the same subnet, as the reference behaves. */
describe.skipIf(!isRoot)('bridge plugin: gateway address and forceAddress (root)', () => {
  let bin: string;
  beforeAll(() => {
    bin = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-gw-bin-'));
    installPlugins(bin, ['bridge', 'host-local']);
  });
  afterAll(() => fs.rmSync(bin, { recursive: true, force: true }));

  async function withClash() {
    const c = await CaseContext.create(bin, '1.0.0');
    onTestFinished(() => c.cleanup());
    await run(['ip', '-n', c.host, 'link', 'add', c.bridge, 'type', 'bridge']);
    await run(['ip', '-n', c.host, 'addr', 'add', '10.236.0.77/24', 'dev', c.bridge]);
    const addrs = async () => (await c.hostJson<{ addr_info: { local: string; prefixlen: number }[] }[]>('addr', 'show', 'dev', c.bridge))[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`).filter((a) => !a.startsWith('fe80'));
    return { c, addrs };
  }

  it('another address of the subnet on the bridge: ADD fails with code 7, the gateway is not left behind', async () => {
    const { c, addrs } = await withClash();
    const netns = await c.netns();
    const r = await c.exec('bridge', 'ADD', c.bridgeConf('10.236.0.0/24'), { containerId: 'g1', netns });
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code: 7, msg: expect.stringContaining('forceAddress') });
    expect(await addrs()).toEqual(['10.236.0.77/24']);
    expect(c.leases()).toEqual([]);
  });

  it('forceAddress: the gateway replaces the other address; a second ADD finds it there', async () => {
    const { c, addrs } = await withClash();
    const conf = c.bridgeConf('10.236.0.0/24', { forceAddress: true });
    for (const id of ['g1', 'g2']) {
      const r = await c.exec('bridge', 'ADD', conf, { containerId: id, netns: await c.netns() });
      expect(r.code, r.stdout).toBe(0);
    }
    expect(await addrs()).toEqual(['10.236.0.1/24']);
  });
});
