import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { cniExec, type CniOutcome } from '../../conformance/src/exec.js';
import { installPlugins } from '../../core/src/cni/install.js';
import { FAULT_STEPS, type FaultOperation } from '../../core/src/fault/index.js';
import { run } from '../../core/src/index.js';
import { expectFaulted, expectSameView, faultHost, hostView, MODES, type FaultHost } from '../helpers/fault.js';
import { dropNetns, isRoot, testName, uid } from '../helpers/scratch.js';

/**
 * The kill/fail matrix of CNI ADD and DEL through the launcher (bridge + host-local + ipMasq, and
 * the tsnet plugin with a port mapping): at every step a fault; a failed ADD must leave nothing by
 * itself; then the runtime's recovery (DEL, as the spec has runtimes call it after a failed ADD or
 * a lost plugin) must bring the host and container namespaces, the nft ruleset and the lease and
 * record files back to exactly the state before.
 */
let pluginDir = '';
beforeAll(() => {
  if (!isRoot) return;
  pluginDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-tfi-bin-'));
  installPlugins(pluginDir, ['bridge', 'host-local', 'tsnet']);
});
afterAll(() => {
  if (pluginDir) fs.rmSync(pluginDir, { recursive: true, force: true });
});

async function containerNs(): Promise<string> {
  const ns = testName('tfic');
  await run(['ip', 'netns', 'add', ns]);
  onTestFinished(() => dropNetns(ns));
  return ns;
}

interface Plugin {
  name: string;
  conf: Record<string, unknown>;
}

async function matrix(h: FaultHost, p: Plugin, add: FaultOperation, del: FaultOperation): Promise<number> {
  const ctr = await containerNs();
  const env = { TSNET_STATE_DIR: h.stateDir };
  const call = (cmd: string, id: string, extra: Record<string, string> = {}): Promise<CniOutcome> =>
    cniExec(pluginDir, p.name, cmd, p.conf, { containerId: id, netns: `/run/netns/${ctr}`, ifname: 'eth0' }, { ...env, ...extra }, h.ns);
  const must = async (cmd: string, id: string) => {
    const r = await call(cmd, id);
    if (r.code !== 0) throw new Error(`${p.name} ${cmd}: ${r.stdout} ${r.stderr}`);
  };
  // One ADD and DEL first: the bridge, its gateway and the first-use files belong to the start.
  await must('ADD', 'tfi-warm');
  await must('DEL', 'tfi-warm');
  const view = () => hostView(h, [ctr]);
  const start = await view();
  let cases = 0;
  for (const [op, isAdd] of [[add, true], [del, false]] as const) {
    for (const step of FAULT_STEPS[op]) {
      for (const mode of MODES) {
        const id = `tfi-${uid()}`;
        const what = `${p.name} ${op} after:${step}:${mode}`;
        if (!isAdd) await must('ADD', id);
        const r = await call(isAdd ? 'ADD' : 'DEL', id, { TSNET_FAULT: `after:${step}:${mode}` });
        expectFaulted(r, mode, what, true);
        if (isAdd && mode === 'fail') expectSameView(start, await view(), `${what}: rolled back by itself`);
        await must('DEL', id);
        expectSameView(start, await view(), `${what}: after DEL`);
        cases++;
      }
    }
  }
  return cases;
}

describe.skipIf(!isRoot)('fault matrix: CNI ADD and DEL through the launcher (root)', () => {
  it(`bridge + host-local + ipMasq: ADD ${FAULT_STEPS.cniAdd.length} and DEL ${FAULT_STEPS.cniDel.length} steps x fail/kill, then DEL: nothing left`, async () => {
    const h = await faultHost();
    const conf = {
      cniVersion: '1.0.0',
      name: 'tfi-cni',
      type: 'bridge',
      bridge: `tfibr${uid()}`,
      isGateway: true,
      isDefaultGateway: true,
      ipMasq: true,
      ipam: { type: 'host-local', dataDir: path.join(h.stateDir, 'cni-ipam'), ranges: [[{ subnet: '10.233.31.0/24' }]], routes: [{ dst: '10.233.131.0/24' }] },
    };
    const n = await matrix(h, { name: 'bridge', conf }, 'cniAdd', 'cniDel');
    expect(n).toBe((FAULT_STEPS.cniAdd.length + FAULT_STEPS.cniDel.length) * 2);
  }, 150_000);

  it(`tsnet plugin with a port mapping: ADD ${FAULT_STEPS.tsnetAdd.length} and DEL ${FAULT_STEPS.tsnetDel.length} steps x fail/kill, then DEL: nothing left`, async () => {
    const h = await faultHost();
    const r = await h.cli({}, 'network', 'create', 'tfinet', '--subnet', '10.233.32.0/24');
    expect(r.code, r.stderr).toBe(0);
    const conf = {
      cniVersion: '1.0.0',
      name: 'tfi-tsnet',
      type: 'tsnet',
      network: 'tfinet',
      stateDir: h.stateDir,
      capabilities: { portMappings: true },
      runtimeConfig: { portMappings: [{ hostPort: 18090, containerPort: 80, protocol: 'tcp' }] },
    };
    const n = await matrix(h, { name: 'tsnet', conf }, 'tsnetAdd', 'tsnetDel');
    expect(n).toBe((FAULT_STEPS.tsnetAdd.length + FAULT_STEPS.tsnetDel.length) * 2);
  }, 150_000);
});
