/**
 * The text of `nft -a monitor trace`, parsed (pure). nft 1.0.6 has no JSON form of trace events
 * (`nft -j monitor trace` prints the same text), so the lines are read here:
 *   trace id ID FAMILY TABLE CHAIN packet: iif "x" ... ip saddr A ip daddr B ... tcp sport P tcp dport Q ...
 *   trace id ID FAMILY TABLE CHAIN rule RULE TEXT # handle N (verdict V)
 *   trace id ID FAMILY TABLE CHAIN policy accept|drop
 *   trace id ID FAMILY TABLE CHAIN verdict V          (an implicit return / continue)
 *   trace id ID FAMILY TABLE CHAIN unknown rule handle N (verdict V)   (the rule was gone when nft looked)
 */

export interface TracePacket {
  iif?: string;
  oif?: string;
  saddr?: string;
  daddr?: string;
  /** tcp, udp, icmp, ipv6-icmp ... as nft names it. */
  proto?: string;
  sport?: number;
  dport?: number;
  /** The mark, when set (hex as nft prints it). */
  mark?: string;
}

export type TraceEvent =
  | { kind: 'packet'; id: string; family: string; table: string; chain: string; packet: TracePacket; raw: string }
  | { kind: 'rule'; id: string; family: string; table: string; chain: string; text: string; handle?: number; verdict: string }
  | { kind: 'policy'; id: string; family: string; table: string; chain: string; verdict: string }
  | { kind: 'verdict'; id: string; family: string; table: string; chain: string; verdict: string };

const HEAD = /^trace id ([0-9a-f]+) (\S+) (\S+) (\S+) (packet: |rule |policy |verdict |(?=unknown rule ))(.*)$/u;

/** Reads the fields the explanation needs from a "packet:" line's dissection. */
export function parsePacket(text: string): TracePacket {
  const p: TracePacket = {};
  const str = (re: RegExp) => re.exec(text)?.[1];
  const iif = str(/\biif "([^"]+)"/u);
  const oif = str(/\boif "([^"]+)"/u);
  const saddr = str(/\bip6? saddr (\S+)/u);
  const daddr = str(/\bip6? daddr (\S+)/u);
  const proto = str(/\bip protocol (\S+)/u) ?? str(/\bip6 nexthdr (\S+)/u);
  const ports = /\b(tcp|udp|sctp) sport (\d+) \1 dport (\d+)/u.exec(text);
  const mark = str(/\bmeta mark (0x[0-9a-f]+)/u);
  if (iif) p.iif = iif;
  if (oif) p.oif = oif;
  if (saddr) p.saddr = saddr;
  if (daddr) p.daddr = daddr;
  if (proto) p.proto = proto;
  if (ports) {
    p.proto ??= ports[1];
    p.sport = Number(ports[2]);
    p.dport = Number(ports[3]);
  }
  if (mark) p.mark = mark;
  return p;
}

/** One line of `nft -a monitor trace`; undefined for anything else (blank lines, warnings). */
export function parseTraceLine(line: string): TraceEvent | undefined {
  const m = HEAD.exec(line.trimEnd());
  if (!m) return undefined;
  const [, id, family, table, chain, what, rest] = m as unknown as [string, string, string, string, string, string, string];
  const base = { id, family, table, chain };
  switch (what) {
    case 'packet: ':
      return { kind: 'packet', ...base, packet: parsePacket(rest), raw: rest.trim() };
    case '': // "unknown rule handle N": nft could not look the rule up (its table is gone)
    case 'rule ': {
      const v = /^(.*?)\s*\(verdict ([^)]*)\)\s*$/u.exec(rest);
      const body = (v ? v[1]! : rest).trim();
      const h = /^(.*?)\s*# handle (\d+)$/u.exec(body);
      const ev: TraceEvent = { kind: 'rule', ...base, text: h ? h[1]! : body, verdict: v ? v[2]!.trim() : 'continue' };
      if (h) ev.handle = Number(h[2]);
      return ev;
    }
    case 'policy ':
      return { kind: 'policy', ...base, verdict: rest.trim() };
    default:
      return { kind: 'verdict', ...base, verdict: rest.trim() };
  }
}

/** Every trace event in a chunk of monitor output, in order. */
export const parseTrace = (text: string): TraceEvent[] => text.split('\n').map(parseTraceLine).filter((e): e is TraceEvent => e !== undefined);
