import type { FwRule } from './rules.js';

import { firewallName } from './name.js';
import { DEFAULT_MARK_BIT, markSet, unmarkChain } from './mark.js';

const q = (s: string) => JSON.stringify(s);

/** The forward chain's lines of a rule: drops, and accepts that also set the mark bit. */
function forward(r: FwRule, bit: number): string[] {
  const ok = `${markSet(bit)} accept`;
  switch (r.kind) {
    case 'isolate':
      return [`iifname ${q(r.from)} oifname { ${r.to.map(q).join(', ')} } drop`];
    case 'internal': {
      const group = r.peers?.length ? `{ ${[r.bridge, ...r.peers].map(q).join(', ')} }` : q(r.bridge);
      return [`iifname ${q(r.bridge)} oifname != ${group} drop`, `oifname ${q(r.bridge)} iifname != ${group} drop`];
    }
    case 'accept-from':
      return [`iifname ${q(r.bridge)} ${ok}`];
    case 'accept-to':
      return [`oifname ${q(r.bridge)} ct state established,related ${ok}`, `oifname ${q(r.bridge)} ct status dnat ${ok}`];
    default:
      return [];
  }
}

function dnat(r: FwRule): string[] {
  if (r.kind !== 'dnat') return [];
  const p = r.port;
  const nf = p.family === 4 ? 'ipv4' : 'ipv6';
  const fam = p.family === 4 ? 'ip' : 'ip6';
  const dst = p.hostIp === '' ? 'fib daddr type local' : `${fam} daddr ${p.hostIp}`;
  const to = p.family === 4 ? `${p.toIp}:${p.toPort}` : `[${p.toIp}]:${p.toPort}`;
  return [`meta nfproto ${nf} ${dst} ${p.proto} dport ${p.hostPort} dnat ${fam} to ${to}`];
}

function postrouting(r: FwRule): string[] {
  const fam = (f: 4 | 6) => (f === 4 ? 'ip' : 'ip6');
  switch (r.kind) {
    case 'masquerade-hairpin':
      return [`oifname ${q(r.bridge)} ${fam(r.family)} saddr ${r.subnet} ct status dnat masquerade`];
    case 'masquerade-localhost':
      return [`oifname ${q(r.bridge)} ip saddr 127.0.0.0/8 masquerade`];
    case 'masquerade-out':
      return [`${fam(r.family)} saddr ${r.subnet} ${r.except ? `${fam(r.family)} daddr != ${r.except} ` : ''}oifname != ${q(r.bridge)} masquerade`];
    default:
      return [];
  }
}

const chain = (name: string, head: string, body: string[]) =>
  [`  chain ${name} {`, `    ${head}`, ...body.map((l) => `    ${l}`), '  }'].join('\n');

/**
 * tsnet's own nftables table (`inet tsnet` by default); nothing outside it is touched.
 * One `nft -f` transaction that replaces tsnet's table whole: create it if missing, delete it,
 * declare it again. Either all of it applies or none does. The forward chain runs just before
 * iptables' filter FORWARD (priority filter - 1) and marks what it accepts with `bit`, which a
 * static rule there accepts under a DROP policy; `forward_unmark` clears the bit after it.
 */
export function renderNft(rules: FwRule[], table = firewallName(), bit = DEFAULT_MARK_BIT): string {
  const pre = rules.flatMap(dnat);
  return [
    `add table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    chain('forward', 'type filter hook forward priority filter - 1; policy accept;', rules.flatMap((r) => forward(r, bit))),
    ...unmarkChain(bit),
    chain('prerouting', 'type nat hook prerouting priority dstnat; policy accept;', pre),
    chain('output', 'type nat hook output priority -100; policy accept;', pre),
    chain('postrouting', 'type nat hook postrouting priority srcnat; policy accept;', rules.flatMap(postrouting)),
    '}',
    '',
  ].join('\n');
}

/** Removes tsnet's table (and only it); a no-op when absent. */
export const renderNftClear = (table = firewallName()): string => `add table inet ${table}\ndelete table inet ${table}\n`;
