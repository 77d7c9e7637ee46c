import fs from 'node:fs';
import path from 'node:path';
import { run } from '../../exec.js';
import { CNI_ERR, CniError } from '../errors.js';
import type { CniCall, CniResult, NetConf } from '../types.js';
import { checkResult } from '../../validate/cni-conf.js';
import { hostLocalAdd, hostLocalCheck, hostLocalDel, hostLocalGc, parseHostLocal, requested } from './host-local.js';
import { parseStatic, staticAdd } from './static.js';
import { currentCall } from '../../call/context.js';
import { isPluginName } from '../../validate/names.js';

type Verb = 'ADD' | 'DEL' | 'CHECK' | 'GC';

/** Runs a third-party IPAM plugin found on CNI_PATH, as the spec says a main plugin must. */
async function execIpam(type: string, verb: Verb, conf: NetConf, call: CniCall): Promise<CniResult | undefined> {
  const bin = ipamBinary(type, call);
  const env = { ...currentCall().env, CNI_COMMAND: verb, CNI_CONTAINERID: call.containerId, CNI_NETNS: call.netns, CNI_IFNAME: call.ifname, CNI_PATH: call.path.join(':'), CNI_ARGS: Object.entries(call.args).map(([k, v]) => `${k}=${v}`).join(';') };
  const r = await run([bin], { input: JSON.stringify(conf), env, check: false });
  if (r.code !== 0) {
    let err: { code?: number; msg?: string; details?: string } = {};
    try {
      err = JSON.parse(r.stdout) as typeof err;
    } catch {
      // not JSON: report the raw output
    }
    throw new CniError(err.code ?? CNI_ERR.INTERNAL, err.msg ?? `${type} ${verb} failed: ${r.stdout}${r.stderr}`, err.details ?? '');
  }
  if (verb !== 'ADD') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    throw new CniError(CNI_ERR.DECODE, `${type} ADD printed no JSON result: ${r.stdout.slice(0, 200)}`);
  }
  return checkResult(parsed, `result of IPAM plugin ${type}`);
}

/**
 * Checks a main plugin's ipam section before the plugin makes any link: tsnet's own IPAM types
 * parse their whole config (and requested addresses); another type must name a plugin on CNI_PATH.
 */
export function ipamPrecheck(conf: NetConf, call: CniCall): void {
  const type = conf.ipam?.type;
  if (type === undefined) return;
  if (type === 'host-local') {
    parseHostLocal(conf);
    requested(conf, call);
  } else if (type === 'static') {
    parseStatic(conf, call);
  } else {
    ipamBinary(type, call);
  }
}

function ipamBinary(type: string, call: CniCall): string {
  if (!isPluginName(type)) throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid ipam type ${JSON.stringify(type.slice(0, 80))}`, 'INVALID_NAME');
  const bin = call.path.map((d) => path.join(d, type)).find((p) => fs.existsSync(p));
  if (!bin) throw new CniError(CNI_ERR.INVALID_CONFIG, `failed to find IPAM plugin ${JSON.stringify(type)} in path ${JSON.stringify(call.path)}`);
  return bin;
}

/** IPAM for a main plugin: tsnet's host-local and static run in-process, others are exec'd. */
export async function ipamAdd(conf: NetConf, call: CniCall): Promise<CniResult> {
  const type = conf.ipam?.type;
  if (type === 'host-local') return hostLocalAdd(conf, call);
  if (type === 'static') return staticAdd(conf, call);
  return (await execIpam(String(type), 'ADD', conf, call))!;
}

export async function ipamDel(conf: NetConf, call: CniCall): Promise<void> {
  const type = conf.ipam?.type;
  if (type === 'host-local') return hostLocalDel(conf, call);
  if (type === 'static') return; // nothing to free; lenient
  await execIpam(String(type), 'DEL', conf, call);
}

export async function ipamCheck(conf: NetConf, call: CniCall): Promise<void> {
  const type = conf.ipam?.type;
  if (type === 'host-local') return hostLocalCheck(conf, call);
  if (type === 'static') return void parseStatic(conf, call);
  await execIpam(String(type), 'CHECK', conf, call);
}

export async function ipamGc(conf: NetConf, call: CniCall): Promise<void> {
  const type = conf.ipam?.type;
  if (type === 'host-local') return hostLocalGc(conf);
  if (type === 'static') return void parseStatic(conf, call);
  await execIpam(String(type), 'GC', conf, call);
}
