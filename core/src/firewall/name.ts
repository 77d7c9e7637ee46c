import { envVar } from '../call/context.js';
import { InvalidArgumentError } from '../errors.js';

/**
 * The name of tsnet's own firewall objects: the nftables table `inet NAME` and the iptables
 * chains `NAME-FORWARD`, ... (upper case). Default "tsnet"; TSNET_FIREWALL_NAME gives another,
 * so two tsnet states on one host (a test beside a real install) never touch each other's rules.
 */
export function firewallName(): string {
  const name = envVar('TSNET_FIREWALL_NAME') ?? 'tsnet';
  if (!/^[a-z][a-z0-9_]{0,15}$/u.test(name)) throw new InvalidArgumentError(`invalid TSNET_FIREWALL_NAME ${JSON.stringify(name)}: 1-16 of [a-z0-9_], starting with a letter`);
  return name;
}

/** iptables chain prefix, e.g. "TSNET-". */
export const chainPrefix = (): string => `${firewallName().toUpperCase()}-`;
