import { InvalidArgumentError } from '../errors.js';
import { parseIp } from '../net/ip.js';
import type { PortMapping, Proto } from './types.js';

/** A -p spec before random host ports are chosen: hostPort 0 means "pick one". */
export type PortRequest = PortMapping;

function port(s: string, spec: string): number {
  if (!/^\d{1,5}$/u.test(s)) throw new InvalidArgumentError(`invalid port ${JSON.stringify(s)} in -p ${spec}`, { spec });
  const n = Number(s);
  if (n < 1 || n > 65535) throw new InvalidArgumentError(`port ${n} out of range 1-65535 in -p ${spec}`, { spec });
  return n;
}

function portRange(s: string, spec: string): [number, number] {
  const [a, b, ...rest] = s.split('-');
  if (rest.length > 0 || a === undefined) throw new InvalidArgumentError(`invalid port range ${JSON.stringify(s)} in -p ${spec}`, { spec });
  const lo = port(a, spec);
  const hi = b === undefined ? lo : port(b, spec);
  if (hi < lo) throw new InvalidArgumentError(`port range ${s} ends before it starts in -p ${spec}`, { spec });
  return [lo, hi];
}

/**
 * Parses Docker's -p syntax: [hostIp:][hostPort[-end]:]containerPort[-end][/tcp|udp].
 * "8080:80", "127.0.0.1:8080:80/udp", "8000-8002:80-82", "80" (random host port),
 * "127.0.0.1::80" (random port on that address), "[::1]:8080:80".
 */
export function parsePortSpec(spec: string): PortRequest[] {
  const slash = spec.lastIndexOf('/');
  let body = spec;
  let proto: Proto = 'tcp';
  if (slash >= 0) {
    const p = spec.slice(slash + 1);
    if (p !== 'tcp' && p !== 'udp') throw new InvalidArgumentError(`invalid protocol ${JSON.stringify(p)} in -p ${spec}: tcp or udp`, { spec });
    proto = p;
    body = spec.slice(0, slash);
  }
  let hostIp = '';
  const v6 = /^\[([^\]]+)\]:(.*)$/u.exec(body);
  if (v6) {
    hostIp = v6[1]!;
    body = v6[2]!;
  } else if (body.split(':').length === 3) {
    hostIp = body.slice(0, body.indexOf(':'));
    body = body.slice(body.indexOf(':') + 1);
  }
  if (hostIp !== '') hostIp = parseIpFor(hostIp, spec);
  const parts = body.split(':');
  if (parts.length > 2 || parts.some((p, i) => p === '' && !(i === 0 && parts.length === 2 && hostIp !== ''))) {
    throw new InvalidArgumentError(`invalid -p ${JSON.stringify(spec)}: expected [hostIp:][hostPort:]containerPort[/proto]`, { spec });
  }
  const [cLo, cHi] = portRange(parts[parts.length - 1]!, spec);
  const hostPart = parts.length === 2 ? parts[0]! : '';
  const [hLo, hHi] = hostPart === '' ? [0, 0] : portRange(hostPart, spec);
  if (hostPart !== '' && hHi - hLo !== cHi - cLo) {
    throw new InvalidArgumentError(`-p ${spec}: host range ${hostPart} and container range ${parts[1]} differ in size`, { spec });
  }
  const out: PortRequest[] = [];
  for (let i = 0; i <= cHi - cLo; i++) out.push({ hostIp, hostPort: hostPart === '' ? 0 : hLo + i, containerPort: cLo + i, proto });
  return out;
}

function parseIpFor(s: string, spec: string): string {
  try {
    return parseIp(s).address;
  } catch {
    throw new InvalidArgumentError(`invalid host address ${JSON.stringify(s)} in -p ${spec}`, { spec });
  }
}

export const formatPort = (p: PortMapping): string =>
  `${p.hostIp === '' ? '0.0.0.0' : p.hostIp.includes(':') ? `[${p.hostIp}]` : p.hostIp}:${p.hostPort}->${p.containerPort}/${p.proto}`;
