import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { run } from '../../core/src/index.js';

/** Files under a directory: path -> mode and content hash (what "the state dir is as before" means). */
export function fileTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const p = path.join(dir, n);
      const st = fs.lstatSync(p);
      const rel = path.relative(root, p);
      if (st.isDirectory()) {
        out[`${rel}/`] = (st.mode & 0o7777).toString(8);
        walk(p);
      } else {
        const hash = st.isFile() ? createHash('sha1').update(fs.readFileSync(p)).digest('hex').slice(0, 12) : 'special';
        out[rel] = `${(st.mode & 0o7777).toString(8)} ${hash}`;
      }
    }
  };
  walk(root);
  return out;
}

/**
 * Everything a failed call could have left in a namespace, seen by independent tools: links,
 * addresses, routes (both families), the nftables ruleset and iptables-save (comments dropped).
 */
export async function netnsView(ns: string): Promise<Record<string, unknown>> {
  const inNs = (argv: string[]) => run(['nsenter', `--net=/run/netns/${ns}`, ...argv], { check: false });
  const [links, addrs, routes4, routes6, nft, ipt] = await Promise.all([
    inNs(['ip', '-j', 'link']),
    inNs(['ip', '-j', 'addr']),
    inNs(['ip', '-j', '-4', 'route', 'show', 'table', 'all']),
    inNs(['ip', '-j', '-6', 'route', 'show', 'table', 'all']),
    inNs(['nft', '-j', 'list', 'ruleset']),
    inNs(['iptables-save']),
  ]);
  // IPv6 link-local addresses (and their routes) are the kernel's own, added a moment after a
  // link comes up (DAD): left out, so a view taken just after set-up compares equal later.
  type Addr = { family?: string; scope?: string; local?: string };
  const kernelOwn = (a: Addr) => a.family === 'inet6' && a.scope === 'link';
  const addrList = (JSON.parse(addrs.stdout || '[]') as { addr_info?: Addr[] }[]).map((l) => ({ ...l, addr_info: (l.addr_info ?? []).filter((a) => !kernelOwn(a)) }));
  const r6 = (JSON.parse(routes6.stdout || '[]') as { dst?: string }[]).filter((r) => !r.dst?.startsWith('fe80:') && !r.dst?.startsWith('ff00:'));
  return {
    links: JSON.parse(links.stdout || '[]') as unknown,
    addrs: addrList,
    routes4: routes4.stdout,
    routes6: r6,
    nft: nft.stdout,
    iptables: ipt.stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n'),
  };
}

/** What differs between two views, in a few lines (empty when equal): for files, each path added, removed or changed. */
export function viewDiff(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const [x, y] = [a[k], b[k]];
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    if (x && y && typeof x === 'object' && typeof y === 'object' && !Array.isArray(x)) {
      const [xo, yo] = [x as Record<string, unknown>, y as Record<string, unknown>];
      for (const f of new Set([...Object.keys(xo), ...Object.keys(yo)])) {
        if (JSON.stringify(xo[f]) !== JSON.stringify(yo[f])) out.push(`${k}.${f}: ${JSON.stringify(xo[f])?.slice(0, 300)} -> ${JSON.stringify(yo[f])?.slice(0, 300)}`);
      }
    } else {
      out.push(`${k}: ${JSON.stringify(x)?.slice(0, 300)} -> ${JSON.stringify(y)?.slice(0, 300)}`);
    }
  }
  return out;
}
