import { run } from '../../exec.js';
import { libnftAvailable, nftRun } from '../../firewall/libnft.js';
import { pidAlive, renderTraceTableDelete, staleTraceTables } from './table.js';

/**
 * nft in one namespace: the process's own (undefined path: in-process through libnftables, else a
 * spawned nft) or another one by its nsfs path (a spawned `nsenter --net=PATH nft`; trace is not a
 * hot path).
 */
export async function nftIn(nsPath: string | undefined, commands: string, opts: { json?: boolean; handles?: boolean } = {}): Promise<string> {
  if (nsPath === undefined && libnftAvailable()) return nftRun(commands, opts);
  const nft = [...(nsPath === undefined ? [] : ['nsenter', `--net=${nsPath}`]), 'nft', ...(opts.json ? ['-j'] : []), ...(opts.handles ? ['-a'] : [])];
  // With -j, nft reads a file as JSON: a (one-line) listing command goes as arguments instead.
  const r = opts.json ? await run([...nft, ...commands.trim().split(/\s+/u)], { timeoutMs: 30_000 }) : await run([...nft, '-f', '-'], { input: commands, timeoutMs: 30_000 });
  return r.stdout;
}

/** Removes the trace tables left by dead `tsnet trace` processes in a namespace; returns their names. */
export async function removeStaleTraceTables(nsPath?: string): Promise<string[]> {
  const listing = await nftIn(nsPath, 'list tables', { json: true }).catch(() => '');
  const stale = staleTraceTables(listing, pidAlive);
  for (const name of stale) await nftIn(nsPath, renderTraceTableDelete(name)).catch(() => undefined);
  return stale;
}

/** Names of the tables in a namespace other than the trace tables (does it have rules to trace?). */
export async function otherTables(nsPath?: string): Promise<string[]> {
  const listing = await nftIn(nsPath, 'list tables', { json: true }).catch(() => '{}');
  try {
    const parsed = JSON.parse(listing) as { nftables?: { table?: { family: string; name: string } }[] };
    return (parsed.nftables ?? []).flatMap((i) => (i.table && !i.table.name.startsWith('tsnet_trace_') ? [`${i.table.family} ${i.table.name}`] : []));
  } catch {
    return [];
  }
}
