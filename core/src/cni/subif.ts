import { randomBytes } from 'node:crypto';
import type { NetlinkApi } from '../kernel/api.js';
import type { IpvlanMode, LinkSpec, MacvlanMode } from '../kernel/link-types.js';
import { validateIfName } from '../kernel/names.js';
import { addWithRollback } from './container.js';
import { CNI_ERR, CniError, expectType } from './errors.js';
import { confCheck } from '../validate/cni-conf.js';
import { intValue } from '../validate/values.js';
import { ignoreLinkNotFound } from '../errors.js';
import { ipamPrecheck } from './ipam/delegate.js';
import { ipamOnInterface, oneInterfacePlugin } from './one-interface.js';
import type { PluginHandlers } from './skel.js';
import type { CniCall, CniResult, NetConf } from './types.js';

/**
 * Sub-interfaces of a host link moved into the container: macvlan and ipvlan (the reference keys
 * `master`, `mode`, `mtu`, `ipam`) and vlan (`master`, `vlanId`, `mtu`, `ipam`).
 */
type Kind = 'macvlan' | 'ipvlan' | 'vlan';
const MODES: Record<Kind, { values: string[]; fallback: string }> = {
  macvlan: { values: ['bridge', 'private', 'vepa', 'passthru'], fallback: 'bridge' },
  ipvlan: { values: ['l2', 'l3', 'l3s'], fallback: 'l2' },
  vlan: { values: [''], fallback: '' },
};

interface SubifConf {
  master?: string;
  mode: string;
  mtu?: number;
  vlanId?: number;
}

function parse(kind: Kind, conf: NetConf): SubifConf {
  for (const [k, t] of [['master', 'string'], ['mode', 'string'], ['mtu', 'number'], ['linkInContainer', 'boolean'], ['vlanId', 'number']] as const) expectType(conf, k, t);
  if (conf['linkInContainer'] === true) throw new CniError(CNI_ERR.UNSUPPORTED_FIELD, `${kind}: linkInContainer is not supported by tsnet yet`);
  const mode = kind === 'vlan' ? '' : ((conf['mode'] as string | undefined) ?? MODES[kind].fallback);
  if (!MODES[kind].values.includes(mode)) throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${kind} mode ${JSON.stringify(mode)}: one of ${MODES[kind].values.join(', ')}`);
  const out: SubifConf = { mode };
  if (typeof conf['master'] === 'string') out.master = confCheck(() => validateIfName(conf['master'] as string));
  if (conf['mtu'] !== undefined) out.mtu = confCheck(() => intValue('mtu', conf['mtu'], 68, 65535));
  if (kind === 'vlan') {
    // The reference requires both: a vlan needs its parent and its tag.
    if (!out.master) throw new CniError(CNI_ERR.INVALID_CONFIG, 'invalid network config: vlan needs "master"', 'INVALID_ARGUMENT');
    out.vlanId = confCheck(() => intValue('vlanId', conf['vlanId'], 0, 4094));
  }
  return out;
}

/** The master: as configured, else the interface of the host's default route (as the reference). */
async function masterOf(host: NetlinkApi, cfg: SubifConf, kind: Kind): Promise<string> {
  if (cfg.master) return cfg.master;
  const def = (await host.routeList({ family: 4 })).find((r) => r.dst === 'default' && r.oif !== undefined);
  if (!def) throw new CniError(CNI_ERR.INVALID_CONFIG, `${kind}: no master given and the host has no default route to take it from`);
  return (await host.linkByIndex(def.oif!)).name;
}

function spec(kind: Kind, name: string, parent: string, cfg: SubifConf): LinkSpec {
  const mtu = cfg.mtu ? { mtu: cfg.mtu } : {};
  if (kind === 'vlan') return { kind, name, parent, vlanId: cfg.vlanId ?? 0, ...mtu };
  return kind === 'macvlan'
    ? { kind, name, parent, mode: cfg.mode as MacvlanMode, ...mtu }
    : { kind, name, parent, mode: cfg.mode as IpvlanMode, ...mtu };
}

export function subifPlugin(kind: Kind): PluginHandlers {
  async function add(conf: NetConf, call: CniCall): Promise<CniResult> {
    const cfg = parse(kind, conf);
    ipamPrecheck(conf, call); // every value checked before a link exists
    return addWithRollback(call, async ({ host, ctr, ns, undo }) => {
      const master = await masterOf(host, cfg, kind);
      const tmp = `${kind === 'macvlan' ? 'mv' : kind === 'ipvlan' ? 'iv' : 'vl'}${randomBytes(4).toString('hex')}`;
      await host.linkAdd(spec(kind, tmp, master, cfg));
      undo(() => host.linkDel(tmp).catch(ignoreLinkNotFound));
      await host.linkSetNetns(tmp, ns);
      undo(() => ctr.linkDel(tmp).catch(ignoreLinkNotFound));
      await ctr.linkSetName(tmp, call.ifname);
      undo(() => ctr.linkDel(call.ifname).catch(ignoreLinkNotFound));
      return ipamOnInterface(conf, call, { ctr, ns, undo });
    });
  }

  return oneInterfacePlugin(kind, kind, (conf: NetConf) => parse(kind, conf), add);
}
