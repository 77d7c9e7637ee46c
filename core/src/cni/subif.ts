import { randomBytes } from 'node:crypto';
import type { NetlinkApi } from '../kernel/api.js';
import type { IpvlanMode, LinkSpec, MacvlanMode } from '../kernel/link-types.js';
import { validateIfName } from '../kernel/names.js';
import { addWithRollback } from './container.js';
import { CNI_ERR, CniError, expectType } from './errors.js';
import { confCheck } from '../validate/cni-conf.js';
import { intValue } from '../validate/values.js';
import { ignoreLinkNotFound, isTsnetError } from '../errors.js';
import { ipamPrecheck } from './ipam/delegate.js';
import { ipamOnInterface, oneInterfacePlugin } from './one-interface.js';
import type { PluginHandlers } from './skel.js';
import type { CniCall, CniResult, NetConf } from './types.js';

/**
 * Sub-interfaces of a host link moved into the container: macvlan and ipvlan (the reference keys
 * `master`, `mode`, `mtu`, `ipam`) and vlan (`master`, `vlanId`, `mtu`, `ipam`). With
 * `linkInContainer` (references 1.3+) the master is a link of the container's namespace (the
 * default-route fallback looks there too) and the new link is made there, next to it.
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
  linkInContainer: boolean;
}

function parse(kind: Kind, conf: NetConf): SubifConf {
  for (const [k, t] of [['master', 'string'], ['mode', 'string'], ['mtu', 'number'], ['linkInContainer', 'boolean'], ['vlanId', 'number']] as const) expectType(conf, k, t);
  const mode = kind === 'vlan' ? '' : ((conf['mode'] as string | undefined) ?? MODES[kind].fallback);
  if (!MODES[kind].values.includes(mode)) throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${kind} mode ${JSON.stringify(mode)}: one of ${MODES[kind].values.join(', ')}`);
  const out: SubifConf = { mode, linkInContainer: conf['linkInContainer'] === true };
  if (typeof conf['master'] === 'string') out.master = confCheck(() => validateIfName(conf['master'] as string));
  if (conf['mtu'] !== undefined) out.mtu = confCheck(() => intValue('mtu', conf['mtu'], 68, 65535));
  if (kind === 'vlan') {
    // The reference requires both: a vlan needs its parent and its tag.
    if (!out.master) throw new CniError(CNI_ERR.INVALID_CONFIG, 'invalid network config: vlan needs "master"', 'INVALID_ARGUMENT');
    out.vlanId = confCheck(() => intValue('vlanId', conf['vlanId'], 0, 4094));
  }
  return out;
}

/**
 * The master: as configured, else the interface of the default route (as the reference), both
 * in `where` (the host, or the container with linkInContainer). A missing master is code 7.
 */
async function masterOf(where: NetlinkApi, cfg: SubifConf, kind: Kind): Promise<string> {
  const place = cfg.linkInContainer ? 'the container' : 'the host';
  if (!cfg.master) {
    const def = (await where.routeList({ family: 4 })).find((r) => r.dst === 'default' && r.oif !== undefined);
    if (!def) throw new CniError(CNI_ERR.INVALID_CONFIG, `${kind}: no master given and ${place} has no default route to take it from`);
    return (await where.linkByIndex(def.oif!)).name;
  }
  await where.linkByName(cfg.master).catch((e: unknown) => {
    if (isTsnetError(e, 'LINK_NOT_FOUND')) throw new CniError(CNI_ERR.INVALID_CONFIG, `${kind}: master ${cfg.master} not found in ${place}${cfg.linkInContainer ? ' (linkInContainer)' : ''}`, 'LINK_NOT_FOUND');
    throw e;
  });
  return cfg.master;
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
      const master = await masterOf(cfg.linkInContainer ? ctr : host, cfg, kind);
      // A temporary name first: CNI_IFNAME may be taken on the side the link is made on.
      const tmp = `${kind === 'macvlan' ? 'mv' : kind === 'ipvlan' ? 'iv' : 'vl'}${randomBytes(4).toString('hex')}`;
      if (cfg.linkInContainer) {
        await ctr.linkAdd(spec(kind, tmp, master, cfg));
      } else {
        await host.linkAdd(spec(kind, tmp, master, cfg));
        undo(() => host.linkDel(tmp).catch(ignoreLinkNotFound));
        await host.linkSetNetns(tmp, ns);
      }
      undo(() => ctr.linkDel(tmp).catch(ignoreLinkNotFound));
      await ctr.linkSetName(tmp, call.ifname);
      undo(() => ctr.linkDel(call.ifname).catch(ignoreLinkNotFound));
      return ipamOnInterface(conf, call, { ctr, ns, undo });
    });
  }

  return oneInterfacePlugin(kind, kind, (conf: NetConf) => parse(kind, conf), add);
}
