import { InvalidArgumentError } from '../errors.js';

/**
 * The packet mark bit with which tsnet's nftables tables tell iptables' filter FORWARD "tsnet
 * accepts this forward": a chain at priority filter - 1 sets it on what tsnet lets through, one
 * static rule in iptables' filter table (the compat chain, mark-compat.ts) accepts it under a
 * DROP policy (Docker), and a chain at filter + 1 clears it again, so nothing after the filter
 * hook (routing, masquerade marks of kube-proxy or portmap) ever sees it. Bit 12 is free of
 * kube-proxy (14, 15), the reference portmap (13), Calico (16-31), Cilium (8-11), Weave (17, 18).
 */
export const DEFAULT_MARK_BIT = 12;

export function checkMarkBit(bit: number): number {
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) throw new InvalidArgumentError(`invalid mark bit ${bit}: 0-31`);
  return bit;
}

export const markHex = (bit: number): string => `0x${(2 ** checkMarkBit(bit)).toString(16).padStart(8, '0')}`;

/** The nft statement that sets the bit. */
export const markSet = (bit: number): string => `meta mark set meta mark | ${markHex(bit)}`;

/** The chain (nft text lines inside `table inet NAME { ... }`) that clears the bit after the filter hook. */
export function unmarkChain(bit: number, name = 'forward_unmark'): string[] {
  const m = markHex(bit);
  const unm = `0x${(~(2 ** bit) >>> 0).toString(16).padStart(8, '0')}`;
  return [
    `  chain ${name} {`,
    '    type filter hook forward priority filter + 1; policy accept;',
    `    meta mark & ${m} == ${m} meta mark set meta mark & ${unm}`,
    '  }',
  ];
}
