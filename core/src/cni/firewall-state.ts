import fs from 'node:fs';
import path from 'node:path';
import { firewallBackend } from '../firewall/backend.js';
import { firewallName } from '../firewall/name.js';
import type { FwPort, FwRule } from '../firewall/rules.js';
import { withFileLock } from '../kernel/flock.js';
import { parseCidr } from '../net/ip.js';
import { ensurePrivateDir, stateRoot, writeFileAtomic } from '../state/atomic.js';

/**
 * Firewall state of CNI attachments: bridge `ipMasq` records and `portmap` records, one file per
 * attachment and kind under $STATE/cni/fw/, rendered all together into tsnet's own CNI table
 * (`inet tsnet_cni`) in one transaction after every change; the table goes with the last record.
 */
export type CniFwRecord =
  | { kind: 'masq'; bridge: string; ips: string[] }
  | { kind: 'portmap'; bridge?: string; snat: boolean; ports: FwPort[] };

export interface AttachmentKey {
  network: string;
  containerId: string;
  ifname: string;
}

const dir = () => path.join(stateRoot(), 'cni', 'fw');
const fileName = (k: AttachmentKey, kind: CniFwRecord['kind']) => `${k.network}--${k.containerId}--${k.ifname}.${kind}.json`;

interface Stored {
  key: AttachmentKey;
  rec: CniFwRecord;
}

function records(): { name: string; stored: Stored }[] {
  if (!fs.existsSync(dir())) return [];
  return fs.readdirSync(dir()).filter((n) => n.endsWith('.json')).map((name) => ({ name, stored: JSON.parse(fs.readFileSync(path.join(dir(), name), 'utf8')) as Stored }));
}

const host = (ip: string) => {
  const c = parseCidr(ip.includes('/') ? ip : `${ip}/${ip.includes(':') ? 128 : 32}`);
  return { family: c.family, cidr: `${c.address}/${c.family === 4 ? 32 : 128}` };
};

/** The rule set of every record, as plain data. */
export function cniRules(recs: CniFwRecord[]): FwRule[] {
  const rules: FwRule[] = [];
  const localhost = new Set<string>();
  for (const r of recs) {
    if (r.kind === 'masq') {
      for (const ip of r.ips) rules.push({ kind: 'masquerade-out', bridge: r.bridge, family: host(ip).family, subnet: host(ip).cidr });
      continue;
    }
    for (const p of r.ports) rules.push({ kind: 'dnat', port: p });
    if (!r.snat || !r.bridge) continue;
    for (const p of r.ports) rules.push({ kind: 'masquerade-hairpin', bridge: r.bridge, family: p.family, subnet: host(p.toIp).cidr });
    if (!localhost.has(r.bridge)) rules.push({ kind: 'masquerade-localhost', bridge: r.bridge });
    localhost.add(r.bridge);
  }
  return rules;
}

async function change(fn: () => void): Promise<void> {
  ensurePrivateDir(dir());
  await withFileLock(path.join(dir(), 'lock'), async () => {
    fn();
    const backend = firewallBackend('auto', `${firewallName()}_cni`);
    const set = cniRules(records().map((r) => r.stored.rec));
    if (set.length === 0) await backend.clear();
    else await backend.apply(set);
  });
}

export const cniFwPut = (key: AttachmentKey, rec: CniFwRecord): Promise<void> =>
  change(() => writeFileAtomic(path.join(dir(), fileName(key, rec.kind)), JSON.stringify({ key, rec } satisfies Stored)));

export const cniFwDel = (k: AttachmentKey, kind: CniFwRecord['kind']): Promise<void> =>
  change(() => fs.rmSync(path.join(dir(), fileName(k, kind)), { force: true }));

export const cniFwHas = (k: AttachmentKey, kind: CniFwRecord['kind']): boolean => fs.existsSync(path.join(dir(), fileName(k, kind)));

/** GC: drops the `kind` records of `network` whose attachment is not in `valid`. */
export const cniFwGc = (network: string, kind: CniFwRecord['kind'], valid: { containerId: string; ifname: string }[]): Promise<void> =>
  change(() => {
    const keep = new Set(valid.map((v) => `${v.containerId}/${v.ifname}`));
    for (const { name, stored } of records()) {
      if (stored.rec.kind === kind && stored.key.network === network && !keep.has(`${stored.key.containerId}/${stored.key.ifname}`)) fs.rmSync(path.join(dir(), name), { force: true });
    }
  });
