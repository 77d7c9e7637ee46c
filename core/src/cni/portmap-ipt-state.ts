import fs from 'node:fs';
import path from 'node:path';
import { TsnetError } from '../errors.js';
import { run } from '../exec.js';
import { which } from '../exec-which.js';
import { timeoutMs } from '../fault/deadline.js';
import { firewallName } from '../firewall/name.js';
import { withFileLock } from '../kernel/flock.js';
import type { Family } from '../net/ip.js';
import { ensurePrivateDir, readIfExists, stateRoot, writeFileAtomic } from '../state/atomic.js';
import { validAttachments } from '../validate/cni-conf.js';
import { CNI_ERR, CniError } from './errors.js';
import type { AttachmentKey } from './firewall-state.js';
import { ownerComment } from './firewall-sets.js';
import { attachmentChain, iptPrefix, parseNatSave, renderNatRestore, type IptPortmapRecord, type IptView } from './portmap-iptables.js';
import type { NetConf } from './types.js';

/**
 * State of portmap attachments with `backend: iptables`: one JSON record per attachment under
 * $STATE/cni/portmap-ipt/ (the source of truth), and after every change the nat rules of all
 * records replaced in one iptables-restore --noflush commit per family (portmap-iptables.ts),
 * under the directory's flock. A failed ADD puts the previous record back and re-applies, so
 * nothing of it stays; DEL without a record changes nothing.
 */

export type IptPortmapInput = Omit<IptPortmapRecord, 'owner'>;

const dir = () => path.join(stateRoot(), 'cni', 'portmap-ipt');
const fileOf = (k: AttachmentKey) => path.join(dir(), `${k.network}--${k.containerId}--${k.ifname}.json`);
const prefix = () => iptPrefix(firewallName());

interface Stored {
  key: AttachmentKey;
  rec: IptPortmapRecord;
}

function records(): Stored[] {
  if (!fs.existsSync(dir())) return [];
  return fs
    .readdirSync(dir())
    .filter((n) => n.endsWith('.json'))
    .sort()
    .flatMap((n) => {
      try {
        return [JSON.parse(readIfExists(path.join(dir(), n)) ?? '') as Stored];
      } catch {
        return [];
      }
    });
}

const TOOLS: Record<Family, [string, string]> = { 4: ['iptables-save', 'iptables-restore'], 6: ['ip6tables-save', 'ip6tables-restore'] };

function tool(name: string): string {
  const p = which(name);
  if (!p) throw new TsnetError('KERNEL_FEATURE_MISSING', `portmap backend iptables needs ${name}, which is not installed`, { program: name });
  return p;
}

async function natView(family: Family): Promise<IptView> {
  const r = await run([tool(TOOLS[family][0]), '-t', 'nat'], { timeoutMs: timeoutMs('firewall') });
  return parseNatSave(r.stdout, prefix());
}

/** Every record's rules, per family; a family whose tools are missing is skipped when it has nothing to do. */
async function applyAll(): Promise<void> {
  const recs = records().map((s) => s.rec);
  for (const family of [4, 6] as Family[]) {
    const needed = recs.some((r) => r.ports.some((p) => p.family === family));
    if (!needed && !which(TOOLS[family][0])) continue;
    const input = renderNatRestore(recs, family, prefix(), await natView(family));
    if (input !== undefined) await run([tool(TOOLS[family][1]), '--noflush'], { input, timeoutMs: timeoutMs('firewall') });
  }
}

function locked<T>(fn: () => Promise<T>): Promise<T> {
  ensurePrivateDir(dir());
  return withFileLock(path.join(dir(), 'lock'), fn);
}

/** ADD: the record written and every record applied; on failure the previous state comes back. */
export const iptPortmapPut = (k: AttachmentKey, input: IptPortmapInput): Promise<void> =>
  locked(async () => {
    if (input.markChain !== undefined) {
      const families = [...new Set(input.ports.map((p) => p.family))];
      for (const f of families) {
        if (!(await natView(f)).all.has(input.markChain)) {
          throw new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: externalSetMarkChain ${JSON.stringify(input.markChain)}: no such chain in the ${f === 4 ? 'iptables' : 'ip6tables'} nat table`);
        }
      }
    }
    const file = fileOf(k);
    const before = readIfExists(file);
    const rec: IptPortmapRecord = { owner: ownerComment(k), ...input };
    writeFileAtomic(file, JSON.stringify({ key: k, rec } satisfies Stored), { durable: false });
    try {
      await applyAll();
    } catch (e) {
      if (before === undefined) fs.rmSync(file, { force: true });
      else writeFileAtomic(file, before, { durable: false });
      await applyAll().catch(() => undefined);
      throw e;
    }
  });

/** DEL: lenient and idempotent; nothing recorded here, nothing to do (no program started). */
export async function iptPortmapDel(k: AttachmentKey): Promise<void> {
  if (!fs.existsSync(fileOf(k))) return;
  await locked(async () => {
    fs.rmSync(fileOf(k), { force: true });
    await applyAll();
  });
}

export const iptPortmapHas = (k: AttachmentKey): boolean => fs.existsSync(fileOf(k));

/** CHECK: what of the attachment's rules is missing (its record, its chain, its entry rule). */
export async function iptPortmapCheck(k: AttachmentKey): Promise<string[]> {
  const text = readIfExists(fileOf(k));
  if (text === undefined) return [`no port mappings recorded for ${k.containerId}/${k.ifname}`];
  const { rec } = JSON.parse(text) as Stored;
  const out: string[] = [];
  for (const family of [...new Set(rec.ports.map((p) => p.family))]) {
    const r = await run([tool(TOOLS[family][0]), '-t', 'nat'], { timeoutMs: timeoutMs('firewall') });
    const chain = attachmentChain(prefix(), rec.owner);
    const t = family === 4 ? 'iptables' : 'ip6tables';
    if (!parseNatSave(r.stdout, prefix()).chains.has(chain)) out.push(`${t} nat: chain ${chain} is missing`);
    else if (!r.stdout.includes(`--comment "${rec.owner}" -j ${chain}`)) out.push(`${t} nat: no rule of ${prefix()}DNAT jumps to ${chain}`);
  }
  return out;
}

/** GC: drops the records of the config's network whose attachment is not valid, and their rules. */
export async function iptPortmapGc(conf: NetConf): Promise<void> {
  if (!fs.existsSync(dir())) return;
  await locked(async () => {
    const keep = new Set(validAttachments(conf).map((a) => `${a.containerID}/${a.ifname}`));
    let changed = false;
    for (const s of records()) {
      if (s.key.network === conf.name && !keep.has(`${s.key.containerId}/${s.key.ifname}`)) {
        fs.rmSync(fileOf(s.key), { force: true });
        changed = true;
      }
    }
    if (changed) await applyAll();
  });
}
