/**
 * The temporary nftables table of one `tsnet trace`: `inet tsnet_trace_<pid>`, named with the pid
 * of the process that made it, so a table whose maker is dead (kill -9) is known to be stale and
 * removed by the next `trace` or `doctor`. Its chains run before everything else (raw - 1) at
 * prerouting and output and set `meta nftrace 1` only for the probe's packets (an exact match
 * on the pinned source port), the replies to it, and the sentinel datagrams that tell the
 * reader of the trace events that it is listening.
 */

export const TRACE_TABLE_PREFIX = 'tsnet_trace_';
export const traceTableName = (pid = process.pid): string => `${TRACE_TABLE_PREFIX}${pid}`;

export interface ProbeMatch {
  family: 4 | 6;
  proto: 'tcp' | 'udp' | 'icmp';
  src: string;
  dst: string;
  /** The pinned source port (tcp, udp). */
  sport?: number;
  dport?: number;
  /** IP total length (v4) or payload length (v6) of the echo request (icmp): the probe's mark. */
  length?: number;
}

/** The match of the probe packet itself (its direction). */
export function probeMatch(p: ProbeMatch): string {
  const ip = p.family === 4 ? 'ip' : 'ip6';
  const addrs = `${ip} saddr ${p.src} ${ip} daddr ${p.dst}`;
  if (p.proto === 'icmp') return p.family === 4 ? `${addrs} icmp type echo-request ip length ${p.length}` : `${addrs} icmpv6 type echo-request ip6 length ${p.length}`;
  // TCP: the SYN only (not the ACK, FIN or RST of the same connection): one probe, one packet.
  if (p.proto === 'tcp') return `${addrs} tcp sport ${p.sport} tcp dport ${p.dport} tcp flags & (syn | ack) == syn`;
  return `${addrs} udp sport ${p.sport} udp dport ${p.dport}`;
}

/** The match of the answers: to the pinned port (the source may be translated on the way back). */
export function replyMatch(p: ProbeMatch): string {
  if (p.proto === 'icmp') return p.family === 4 ? `icmp type echo-reply ip length ${p.length}` : `icmpv6 type echo-reply ip6 length ${p.length}`;
  // TCP: the SYN-ACK or RST that answers the SYN.
  if (p.proto === 'tcp') return `tcp dport ${p.sport} tcp flags & (syn | rst) != 0`;
  return `udp dport ${p.sport}`;
}

/** The match of the sentinel datagrams (to 127.0.0.1:port, sent in the namespace itself). */
export const sentinelMatch = (ports: number[]): string => `ip daddr 127.0.0.1 udp dport { ${ports.join(', ')} }`;

/** The observer chains of the trace table, by hook. */
export const OBSERVERS = { input: 'seen_input', forward: 'seen_forward', postrouting: 'seen_postrouting' } as const;
/** The chains that turn tracing on. */
export const TRACE_ON = { prerouting: 'trace_prerouting', output: 'trace_output' } as const;

/** The whole table, as one `nft -f` transaction. */
export function renderTraceTable(name: string, p: ProbeMatch, sentinelPorts: number[]): string {
  const on = 'meta nftrace set 1';
  return [
    `table inet ${name} {`,
    `  chain ${TRACE_ON.prerouting} {`,
    '    type filter hook prerouting priority raw - 1; policy accept;',
    `    ${probeMatch(p)} ${on}`,
    `    ${replyMatch(p)} ${on}`,
    '  }',
    `  chain ${TRACE_ON.output} {`,
    '    type filter hook output priority raw - 1; policy accept;',
    `    ${probeMatch(p)} ${on}`,
    `    ${replyMatch(p)} ${on}`,
    `    ${sentinelMatch(sentinelPorts)} ${on}`,
    '  }',
    // Observers, last at their hooks: every hook a traced packet passes shows up, even one where no
    // other table has a chain (so routing, forward or local, is seen), with the packet after NAT.
    ...(['input', 'forward', 'postrouting'] as const).map((hook) => `  chain ${OBSERVERS[hook]} {\n    type filter hook ${hook} priority 500; policy accept;\n  }`),
    '}',
    '',
  ].join('\n');
}

export const renderTraceTableDelete = (name: string): string => `delete table inet ${name}\n`;

/** Names of trace tables (from `nft -j list tables`) whose maker is no longer running. */
export function staleTraceTables(listing: string, alive: (pid: number) => boolean): string[] {
  let parsed: { nftables?: { table?: { family?: string; name?: string } }[] };
  try {
    parsed = JSON.parse(listing) as typeof parsed;
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const item of parsed.nftables ?? []) {
    const t = item.table;
    if (!t || t.family !== 'inet' || !t.name?.startsWith(TRACE_TABLE_PREFIX)) continue;
    const pid = Number(t.name.slice(TRACE_TABLE_PREFIX.length));
    if (Number.isInteger(pid) && pid > 0 && !alive(pid)) out.push(t.name);
  }
  return out;
}

/** Whether a process exists (signal 0). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
