import { nftErrno, nftRun } from '../firewall/libnft.js';
import { CNI_ERR, CniError } from './errors.js';

/**
 * The bridge plugin's `macspoofchk`: frames that enter the bridge from the container's host-side
 * port with a source MAC other than the container interface's are dropped. Same nftables objects
 * as the reference (containernetworking/plugins pkg/link/spoofcheck.go), so either plugin set's
 * DEL removes the other's: table `bridge nat`, base chain `PREROUTING` (filter, hook prerouting,
 * priority -300, policy accept) with one rule per attachment `iifname PORT jump cni-br-iface-ID`,
 * the chain `cni-br-iface-ID` jumping to `cni-br-iface-ID-mac`, which returns for
 * `ether saddr MAC` and drops the rest; every rule carries the comment `macspoofchk-ID`, where
 * ID is `CONTAINERID-IFNAME`. The table and base chain stay when the last attachment goes (as
 * the reference). Commands go as nft JSON, so no name needs quoting.
 */
const FAMILY = 'bridge';
const TABLE = 'nat';
const BASE = 'PREROUTING';
/** nftables limits: a rule comment (NFTNL_UDATA_COMMENT_MAXLEN) and a chain name (NFT_NAME_MAXLEN - 1). */
const COMMENT_MAX = 128;
const CHAIN_MAX = 255;

export const spoofCheckId = (containerId: string, ifname: string): string => `${containerId}-${ifname}`;
const ifaceChain = (id: string): string => `cni-br-iface-${id}`;
const macChain = (id: string): string => `${ifaceChain(id)}-mac`;
const comment = (id: string): string => `macspoofchk-${id}`;

/** Checked before any side effect: the comment and chain names must fit nftables' limits (code 7). */
export function checkSpoofCheckId(id: string): void {
  const c = Buffer.byteLength(comment(id));
  if (c > COMMENT_MAX || Buffer.byteLength(macChain(id)) > CHAIN_MAX) {
    throw new CniError(CNI_ERR.INVALID_CONFIG, `macspoofchk: the rule comment "${comment(id).slice(0, 40)}..." would be ${c} bytes; nftables allows ${COMMENT_MAX} (CNI_CONTAINERID is too long)`);
  }
}

const chain = (name: string) => ({ family: FAMILY, table: TABLE, name });
const rule = (chainName: string, id: string, expr: unknown[]) => ({ rule: { family: FAMILY, table: TABLE, chain: chainName, comment: comment(id), expr } });

/** Installs (or re-installs, after flushing its own chains) the check for one attachment, in one transaction. */
export async function spoofCheckSetup(hostIf: string, mac: string, id: string): Promise<void> {
  checkSpoofCheckId(id);
  const cmds = [
    { add: { table: { family: FAMILY, name: TABLE } } },
    { add: { chain: { ...chain(BASE), type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } } },
    { add: { chain: chain(ifaceChain(id)) } },
    { add: { chain: chain(macChain(id)) } },
    { flush: { chain: chain(ifaceChain(id)) } },
    { flush: { chain: chain(macChain(id)) } },
    ...(await baseRuleHandles(id)).map((handle) => ({ delete: { rule: { family: FAMILY, table: TABLE, chain: BASE, handle } } })),
    { add: rule(BASE, id, [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: hostIf } }, { jump: { target: ifaceChain(id) } }]) },
    { add: rule(ifaceChain(id), id, [{ jump: { target: macChain(id) } }]) },
    { add: rule(macChain(id), id, [{ match: { op: '==', left: { payload: { protocol: 'ether', field: 'saddr' } }, right: mac.toLowerCase() } }, { return: null }]) },
    { add: rule(macChain(id), id, [{ drop: null }]) },
  ];
  await nftRun(JSON.stringify({ nftables: cmds }), { json: true });
}

interface Listed {
  nftables?: { chain?: { name: string }; rule?: { chain: string; handle: number; comment?: string } }[];
}

/** The table's chains and the handles of this attachment's rules in the base chain; none when the table is missing. */
async function listTable(): Promise<Listed['nftables'] & object> {
  try {
    return (JSON.parse(await nftRun(`list table ${FAMILY} ${TABLE}`, { json: true })) as Listed).nftables ?? [];
  } catch (e) {
    if (nftErrno(e) === 'ENOENT') return [];
    throw e;
  }
}

async function baseRuleHandles(id: string, listed?: Listed['nftables'] & object): Promise<number[]> {
  return (listed ?? (await listTable())).flatMap((o) => (o.rule && o.rule.chain === BASE && o.rule.comment === comment(id) ? [o.rule.handle] : []));
}

/** Removes one attachment's rule and chains; nothing there is fine (DEL is idempotent). */
export async function spoofCheckTeardown(id: string): Promise<void> {
  const listed = await listTable();
  const chains = new Set(listed.flatMap((o) => (o.chain ? [o.chain.name] : [])));
  const cmds: unknown[] = (await baseRuleHandles(id, listed)).map((handle) => ({ delete: { rule: { family: FAMILY, table: TABLE, chain: BASE, handle } } }));
  for (const name of [ifaceChain(id), macChain(id)]) if (chains.has(name)) cmds.push({ flush: { chain: chain(name) } });
  for (const name of [ifaceChain(id), macChain(id)]) if (chains.has(name)) cmds.push({ delete: { chain: chain(name) } });
  if (cmds.length > 0) await nftRun(JSON.stringify({ nftables: cmds }), { json: true });
}
