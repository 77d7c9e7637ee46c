import { badConf, confCheck, expectType, validateAbsolutePath } from '@tsnet/core/plugin';
import type { CniCall, NetConf } from '@tsnet/core/plugin';
import { optionCode } from './options.js';
import { OPT } from './wire.js';

/** Where the daemon listens unless told otherwise (the reference's default). */
export const DEFAULT_SOCKET = '/run/cni/dhcp.sock';

/**
 * What one lease asks of the daemon: everything the config and the call say, already checked,
 * so the daemon does no config parsing of its own (it checks this shape again).
 */
export interface LeaseRequest {
  /** The DHCP client identifier: CNI_CONTAINERID/network name/CNI_IFNAME, at most 254 bytes (the reference's). */
  clientId: string;
  /** What GC matches against cni.dev/valid-attachments. */
  containerId: string;
  network: string;
  /** Absolute path of the container's network namespace. */
  netns: string;
  ifname: string;
  /** Options sent in DISCOVER and REQUEST: code and value (base64). */
  provide: { code: number; value: string }[];
  /** Option codes in the parameter request list. */
  request: number[];
}

export interface DhcpConf {
  socketPath: string;
}

/** The reference's client identifier (it truncates to 254 bytes: an option holds at most 255 with its type byte). */
export function clientIdOf(call: CniCall, netName: string): string {
  const id = Buffer.from(`${call.containerId}/${netName}/${call.ifname}`);
  return id.subarray(0, 254).toString('latin1');
}

function ipamOf(conf: NetConf): Record<string, unknown> {
  if (conf.ipam === undefined) throw badConf('dhcp needs an "ipam" section');
  expectType(conf as Record<string, unknown>, 'ipam', 'object');
  return conf.ipam;
}

/** Only the socket path (DEL and STATUS read nothing else: they must work for any config ADD accepted). */
export function parseSocketPath(conf: NetConf): DhcpConf {
  const ipam = ipamOf(conf);
  expectType(ipam, 'daemonSocketPath', 'string', 'ipam.');
  const p = ipam['daemonSocketPath'] as string | undefined;
  return { socketPath: p === undefined || p === '' ? DEFAULT_SOCKET : confCheck(() => validateAbsolutePath('ipam.daemonSocketPath', p, { noPseudo: true })) };
}

function code(where: string, v: unknown): number {
  if (typeof v !== 'string') throw badConf(`${where}.option must be a string (a name or a number 0-255), got ${JSON.stringify(v)?.slice(0, 80)}`);
  const c = optionCode(v);
  if (c === undefined) throw badConf(`${where}.option ${JSON.stringify(v.slice(0, 80))} is not a known option name or a number 0-255`);
  if (c === OPT.PAD || c === OPT.END || c === OPT.MESSAGE_TYPE) throw badConf(`${where}.option ${c} cannot be set (pad, end and message type belong to the protocol)`);
  return c;
}

function entries(ipam: Record<string, unknown>, key: string): Record<string, unknown>[] {
  expectType(ipam, key, 'array', 'ipam.');
  const list = (ipam[key] as unknown[] | undefined) ?? [];
  return list.map((e, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw badConf(`ipam.${key}[${i}] must be an object`);
    return e as Record<string, unknown>;
  });
}

/**
 * The whole ipam section for ADD and CHECK: the socket path, `provide` ({option, value, fromArg}:
 * options sent to the server, a CNI_ARGS value winning over `value`) and `request` ({option,
 * skipDefault}: the parameter request list; subnet mask and router are asked for unless an entry
 * has skipDefault), as the reference reads them. Every value is checked here, before the daemon
 * is asked for anything.
 */
export function parseDhcp(conf: NetConf, call: CniCall): DhcpConf & { lease: LeaseRequest } {
  const { socketPath } = parseSocketPath(conf);
  const ipam = ipamOf(conf);
  const provide = new Map<number, Buffer>();
  entries(ipam, 'provide').forEach((e, i) => {
    const where = `ipam.provide[${i}]`;
    expectType(e, 'value', 'string', `${where}.`);
    expectType(e, 'fromArg', 'string', `${where}.`);
    const c = code(where, e['option']);
    const set = (v: string, from: string) => {
      const b = Buffer.from(v);
      if (b.length > 255) throw badConf(`${where}: the value ${from} for option ${c} is longer than 255 bytes`);
      provide.set(c, b);
    };
    if (typeof e['value'] === 'string' && e['value'] !== '') set(e['value'], '');
    const arg = e['fromArg'];
    if (typeof arg === 'string' && Object.hasOwn(call.args, arg)) set(call.args[arg]!, `from CNI_ARGS ${arg}`);
  });
  const request = new Set<number>();
  let skipDefault = false;
  entries(ipam, 'request').forEach((e, i) => {
    const where = `ipam.request[${i}]`;
    expectType(e, 'skipDefault', 'boolean', `${where}.`);
    if (e['skipDefault'] === true) skipDefault = true;
    request.add(code(where, e['option']));
  });
  if (!skipDefault) for (const c of [OPT.ROUTER, OPT.SUBNET_MASK]) request.add(c);
  return {
    socketPath,
    lease: {
      clientId: clientIdOf(call, conf.name),
      containerId: call.containerId,
      network: conf.name,
      netns: call.netns,
      ifname: call.ifname,
      provide: [...provide].map(([c, v]) => ({ code: c, value: v.toString('base64') })),
      request: [...request],
    },
  };
}
