import { childEnv, envVar } from '../call/context.js';
import { run } from '../exec.js';
import { which } from '../exec-which.js';

/**
 * Sources of a firewalld zone (runtime only, over D-Bus): what the CNI firewall plugin's
 * `firewalld` backend does per container address, as the reference does. gdbus when installed,
 * else firewall-cmd; TSNET_DBUS_SYSTEM_BUS_ADDRESS overrides the bus, as in firewalld.ts.
 */

function busEnv(): NodeJS.ProcessEnv {
  const bus = envVar('TSNET_DBUS_SYSTEM_BUS_ADDRESS');
  return bus ? { ...childEnv(), DBUS_SYSTEM_BUS_ADDRESS: bus } : childEnv();
}

const DEST = ['--system', '--dest', 'org.fedoraproject.FirewallD1', '--object-path', '/org/fedoraproject/FirewallD1'];

/** Adds (`add`) or removes a source (an address or CIDR) of `zone`; ignoreMissing for a remove of one already gone. */
export async function firewalldSource(verb: 'add' | 'remove', zone: string, source: string): Promise<void> {
  const gdbus = which('gdbus');
  const argv = gdbus
    ? [gdbus, 'call', ...DEST, '--method', `org.fedoraproject.FirewallD1.zone.${verb === 'add' ? 'addSource' : 'removeSource'}`, zone, source]
    : [which('firewall-cmd') ?? 'firewall-cmd', `--zone=${zone}`, `--${verb}-source=${source}`];
  const r = await run(argv, { check: false, timeoutMs: 10_000, env: busEnv() });
  if (r.code === 0) return;
  const text = `${r.stdout}${r.stderr}`;
  // Already there / already gone (ZONE_ALREADY_SET, UNKNOWN_SOURCE, NOT_ENABLED): the goal holds.
  if (/ZONE_ALREADY_SET|ALREADY_ENABLED|UNKNOWN_SOURCE|NOT_ENABLED/u.test(text)) return;
  throw new Error(`firewalld: ${verb} source ${source} in zone ${zone}: ${text.trim().split('\n', 1)[0] ?? ''}`);
}
