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
  return {
    links: JSON.parse(links.stdout || '[]') as unknown,
    addrs: JSON.parse(addrs.stdout || '[]') as unknown,
    routes4: routes4.stdout,
    routes6: routes6.stdout,
    nft: nft.stdout,
    iptables: ipt.stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n'),
  };
}
