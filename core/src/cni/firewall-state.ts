import fs from 'node:fs';
import path from 'node:path';
import { trace } from '../exec.js';
import { which } from '../exec-which.js';
import { firewallBackend, nftTableProblems } from '../firewall/backend.js';
import { nftRun } from '../firewall/libnft.js';
import { firewallName } from '../firewall/name.js';
import { ensureWatcher } from '../firewall/watch-start.js';
import { withFileLock } from '../kernel/flock.js';
import { ensurePrivateDir, readIfExists, stateRoot, writeFileAtomic } from '../state/atomic.js';
import { diffElements, KIND_SETS, mergeElements, ownerComment, recordElements, renderCniTable, renderElementChange, renderOwnedDelete, type CniFwRecord, type FwElement } from './firewall-sets.js';

import { afterFirewallChange, builtBit, checkMarkAgreement, compatProblems, markBitOf, setBuiltBit } from './firewall-mark.js';
import { cniRules } from './firewall-rules.js';
import { listTable, missingOwned } from './firewall-check.js';
import type { NetConf } from './types.js';
import { validAttachments } from '../validate/cni-conf.js';

export type { CniFwRecord } from './firewall-sets.js';
export { cniRules } from './firewall-rules.js';

/**
 * Firewall state of CNI attachments: bridge `ipMasq`, `portmap` and `firewall` records, one JSON file
 * per attachment and kind under $STATE/cni/fw/ (the source of truth: GC and rebuilds read them).
 *
 * nftables (the `nft` program exists; libnftables runs it in-process): tsnet's own table
 * `inet NAME_cni` is a fixed skeleton of sets and maps (firewall-sets.ts), and each attachment
 * adds or deletes only its own elements in one small transaction. Every change holds the
 * `lock` flock of that directory (withFileLock: inside this process, a call waits its turn before
 * asking for it, so concurrent calls of one process never park several libuv threads on the flock):
 * - put: write the record, then delete / re-add / create (create refuses an existing key) the
 *   difference to the attachment's previous record;
 * - del: remove the record, then delete its elements; every element carries its attachment as
 *   comment, so a DEL that finds no record (a runtime's cleanup process without the caller's
 *   TSNET_STATE_DIR) still removes what that attachment installed, found in the kernel;
 * - when that transaction fails (the table is missing: the first put, or someone flushed the
 *   ruleset; a key another record already holds; an element already gone) the whole table is
 *   rebuilt from all records in one transaction: the skeleton is created there, under the lock, so
 *   check-and-create is race-free across processes.
 * - Shared keys (two records claiming one address or host port: overlapping networks, a stale
 *   record) are installed once, the first record's (by file name). A rebuild that finds one leaves
 *   the marker file `shared`; while it exists, deletes rebuild instead of deleting elements, so no
 *   record's delete removes an element another still needs. It goes with the next rebuild that
 *   finds no sharing.
 * - The table stays when the last record goes: its sets are then empty and match nothing (as
 *   netavark and Docker keep their chains). Dropping it would make the next ADD pay a whole
 *   rebuild (~11 ms) instead of one element (~0.3 ms), on every container of a quiet host.
 *   Creation still happens only in a rebuild, under the flock, so it stays race-free.
 *
 * iptables (no `nft`): the rule set of all records (cniRules) is applied whole after every change,
 * as before.
 */

export interface AttachmentKey {
  network: string;
  containerId: string;
  ifname: string;
}

const dir = () => path.join(stateRoot(), 'cni', 'fw');
const fileName = (k: AttachmentKey, kind: CniFwRecord['kind']) => `${k.network}--${k.containerId}--${k.ifname}.${kind}.json`;
const cniTable = () => `${firewallName()}_cni`;
const SHARED = 'shared';

interface Stored {
  key: AttachmentKey;
  rec: CniFwRecord;
}

/** All records, sorted by file name (the order in which shared keys are given out). */
function records(): { name: string; stored: Stored }[] {
  if (!fs.existsSync(dir())) return [];
  return fs
    .readdirSync(dir())
    .filter((n) => n.endsWith('.json'))
    .sort()
    .flatMap((name) => {
      const stored = readRecord(path.join(dir(), name));
      if (stored === null) trace(`cni firewall: record ${name} is not JSON, left out`);
      return stored ? [{ name, stored }] : [];
    });
}

/** A record; undefined when there is none, null when it is not JSON (hand-edited). */
function readRecord(file: string): Stored | undefined | null {
  const text = readIfExists(file);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as Stored;
  } catch {
    return null;
  }
}

/** Runs fn under the records' lock (withFileLock queues this process's calls before the flock). */
function locked<T>(fn: () => Promise<T>): Promise<T> {
  ensurePrivateDir(dir());
  return withFileLock(path.join(dir(), 'lock'), fn);
}

const useNft = (): boolean => which('nft') !== undefined;

/** iptables (or no firewall): every record's rules applied whole, as before. */
async function applyWhole(): Promise<void> {
  const backend = firewallBackend('auto', cniTable());
  const set = cniRules(records().map((r) => r.stored.rec));
  if (set.length === 0) await backend.clear();
  else await backend.apply(set);
}

/**
 * Rebuilds the table from every record in one transaction (creating the skeleton; with no
 * record, the empty skeleton). The `shared` marker is written before the table when some key is
 * shared, and removed only after a rebuild without sharing succeeded.
 */
async function rebuild(why: string): Promise<void> {
  const marker = path.join(dir(), SHARED);
  const recs = records();
  const bit = markBitOf(recs.map((r) => r.stored.rec));
  if (recs.length === 0) {
    await nftRun(renderCniTable(cniTable(), [], bit)); // the empty skeleton (see above)
    setBuiltBit(dir(), bit);
    fs.rmSync(marker, { force: true });
    return;
  }
  trace(`cni firewall: rebuilding ${cniTable()} from ${recs.length} record(s) (${why})`);
  // A record that cannot be rendered (hand-edited, or from a version that allowed it) is left
  // out, said in the trace, rather than blocking every attachment's change.
  const lists = recs.map(({ name, stored }) => {
    try {
      return recordElements(stored.rec, ownerComment(stored.key));
    } catch (e) {
      trace(`cni firewall: record ${name} left out: ${e instanceof Error ? e.message : String(e)}`);
      return [];
    }
  });
  const { elements, shared } = mergeElements(lists);
  if (shared) fs.writeFileSync(marker, '', { mode: 0o600 });
  await nftRun(renderCniTable(cniTable(), elements, bit));
  setBuiltBit(dir(), bit);
  if (!shared) fs.rmSync(marker, { force: true });
  await afterFirewallChange(cniTable(), recs.map((r) => r.stored.rec));
}

/** A stored record's elements, or undefined when it cannot be rendered (see rebuild). */
function renderable(stored: Stored): FwElement[] | undefined {
  try {
    return recordElements(stored.rec, ownerComment(stored.key));
  } catch {
    return undefined;
  }
}

/**
 * A DEL that finds no record: deletes what the kernel holds for this attachment anyway (its
 * elements carry its ownerComment). Runtimes call DEL from processes that may lack the caller's
 * environment (podman's cleanup, started by conmon, has no TSNET_STATE_DIR), so the record can be
 * in another state dir while the elements are in this table. Nothing there: nothing changes.
 */
async function deleteOwned(k: AttachmentKey, kind: CniFwRecord['kind']): Promise<void> {
  const listing = await listTable(cniTable());
  if (listing === undefined) return; // no table, nothing installed
  const cmd = renderOwnedDelete(listing, cniTable(), KIND_SETS[kind], ownerComment(k));
  if (cmd === undefined) return;
  trace(`cni firewall: no record of ${k.containerId}/${k.ifname} in this state; deleting its elements found by comment`);
  await nftRun(cmd, { json: true });
}

/** One small transaction for one change; the whole table is rebuilt when it fails. */
async function incremental(change: { remove?: FwElement[]; create?: FwElement[]; keep?: FwElement[] }): Promise<void> {
  const removes = (change.remove?.length ?? 0) > 0;
  if (removes && fs.existsSync(path.join(dir(), SHARED))) return rebuild('shared keys');
  const text = renderElementChange(cniTable(), change);
  if (text === '') return;
  try {
    await nftRun(text);
  } catch (e) {
    await rebuild(`incremental change failed: ${e instanceof Error ? e.message.split('\n', 1)[0] : String(e)}`);
  }
}

export const cniFwPut = (key: AttachmentKey, rec: CniFwRecord): Promise<void> =>
  locked(async () => {
    const file = path.join(dir(), fileName(key, rec.kind));
    if (!useNft()) {
      writeFileAtomic(file, JSON.stringify({ key, rec } satisfies Stored), { durable: false }); // see DURABILITY in atomic.ts
      return applyWhole();
    }
    const after = recordElements(rec, ownerComment(key)); // validates before anything is written
    // The table's bit differs (rare: a first record with another bit): other firewall records must agree.
    const rebit = rec.kind === 'firewall' && builtBit(dir()) !== rec.markBit;
    if (rebit) checkMarkAgreement(records().filter((r) => r.name !== fileName(key, rec.kind)).map((r) => r.stored.rec), rec);
    const before = readRecord(file);
    writeFileAtomic(file, JSON.stringify({ key, rec } satisfies Stored), { durable: false }); // see DURABILITY in atomic.ts
    const was = before === undefined ? [] : before === null ? undefined : renderable(before);
    if (!was) await rebuild('replacing a record that cannot be rendered');
    else if (rebit) await rebuild(`mark bit ${rec.markBit}`);
    else await incremental(diffElements(was, after));
    if (rec.kind === 'firewall') await afterFirewallChange(cniTable(), [rec]); // reads in-process; writes only when missing
  }).then(() => ensureWatcher(stateRoot()));

export const cniFwDel = async (k: AttachmentKey, kind: CniFwRecord['kind']): Promise<void> => {
  // No records dir at all: nothing of this state to change, so no dir or lock is made for a DEL.
  if (!fs.existsSync(dir())) return useNft() ? deleteOwned(k, kind) : undefined;
  return locked(async () => {
    const file = path.join(dir(), fileName(k, kind));
    const before = readRecord(file);
    fs.rmSync(file, { force: true });
    if (!useNft()) return applyWhole();
    if (before !== undefined) {
      const gone = before === null ? undefined : renderable(before);
      return gone ? incremental({ remove: gone }) : rebuild('a record that cannot be rendered was removed');
    }
    // No record here: a repeated DEL (nothing is left, nothing changes), or one from a process
    // without the caller's environment (see deleteOwned).
    await deleteOwned(k, kind);
  });
};

export const cniFwHas = (k: AttachmentKey, kind: CniFwRecord['kind']): boolean => fs.existsSync(path.join(dir(), fileName(k, kind)));

/** GC: drops the `kind` records of the config's network whose attachment is not in its valid-attachments. */
export const cniFwGc = (conf: NetConf, kind: CniFwRecord['kind']): Promise<void> =>
  locked(async () => {
    const network = conf.name;
    const keep = new Set(validAttachments(conf).map((a) => `${a.containerID}/${a.ifname}`));
    const nft = useNft();
    const gone: FwElement[] = [];
    let unrenderable = false;
    for (const { name, stored } of records()) {
      if (stored.rec.kind === kind && stored.key.network === network && !keep.has(`${stored.key.containerId}/${stored.key.ifname}`)) {
        fs.rmSync(path.join(dir(), name), { force: true });
        const els = nft ? renderable(stored) : [];
        if (els) gone.push(...els);
        else unrenderable = true;
      }
    }
    if (!nft) return applyWhole();
    if (unrenderable) await rebuild('a record that cannot be rendered was removed');
    else if (gone.length > 0) await incremental({ remove: gone });
  });

/** Every record's elements merged (the table's wanted content), records that cannot be rendered left out. */
function wantedElements(): FwElement[] {
  return mergeElements(records().map(({ stored }) => renderable(stored) ?? [])).elements;
}

/**
 * Re-applies every record's rules from the records (after `nft flush ruleset`, `iptables -F`, a
 * firewalld reload): one rebuild transaction under the lock, idempotent. False when this state has
 * no CNI records dir (nothing to re-apply).
 */
export async function cniFwReapply(): Promise<boolean> {
  if (!fs.existsSync(dir())) return false;
  await locked(() => (useNft() ? rebuild('re-applied on request') : applyWhole()));
  return true;
}

/** What of the records' rules the kernel lacks now (empty when complete or when there is nothing). */
export async function cniFwVerify(): Promise<string[]> {
  if (!fs.existsSync(dir())) return [];
  if (!useNft()) {
    const set = cniRules(records().map((r) => r.stored.rec));
    return set.length === 0 ? [] : firewallBackend('auto', cniTable()).verify(set);
  }
  const recs = records().map((r) => r.stored.rec);
  const problems = await nftTableProblems(cniTable(), renderCniTable(cniTable(), wantedElements(), markBitOf(recs)));
  return [...problems, ...(await compatProblems(cniTable(), recs))];
}

/** Every attachment's records as stored (read only: `tsnet graph` shows them). */
export function cniFwRecords(): { key: AttachmentKey; rec: CniFwRecord }[] {
  return records().map((r) => r.stored);
}

/** How many attachment records there are, and the bridges they name (for firewalld's trusted zone). */
export function cniFwSummary(): { records: number; bridges: string[] } {
  const recs = records().map((r) => r.stored.rec);
  const bridges = new Set(recs.flatMap((r) => (r.bridge ? [r.bridge] : [])));
  return { records: recs.length, bridges: [...bridges].sort() };
}

/** CHECK: what of one attachment's record is missing (the record, its elements in the table). */
export async function cniFwCheck(k: AttachmentKey, kind: CniFwRecord['kind']): Promise<string[]> {
  const stored = readRecord(path.join(dir(), fileName(k, kind)));
  if (!stored) return [`no ${kind} record for ${k.containerId}/${k.ifname}`];
  if (!useNft()) return [];
  return missingOwned(await listTable(cniTable()), renderable(stored) ?? [], ownerComment(k));
}
