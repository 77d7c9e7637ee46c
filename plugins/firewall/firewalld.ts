import fs from 'node:fs';
import path from 'node:path';
import type { AttachmentKey } from '@tsnet/core/plugin';
import { firewalldSource } from '@tsnet/core/plugin';
import { parseCidr } from '@tsnet/core/plugin';
import { ensurePrivateDir, readIfExists, stateRoot, writeFileAtomic } from '@tsnet/core/plugin';

/**
 * The firewalld backend: each container address (as /32 or /128) becomes a runtime source of the
 * zone, remembered in $STATE/cni/firewalld/ so DEL removes exactly those (also when prevResult is
 * gone); a second DEL finds no record and does nothing.
 */

interface Rec {
  zone: string;
  sources: string[];
}

const dir = () => path.join(stateRoot(), 'cni', 'firewalld');
const file = (k: AttachmentKey) => path.join(dir(), `${k.network}--${k.containerId}--${k.ifname}.json`);

export const sourceOf = (ip: string): string => {
  const c = parseCidr(ip.includes('/') ? ip : `${ip}/${ip.includes(':') ? 128 : 32}`);
  return `${c.address}/${c.family === 4 ? 32 : 128}`;
};

export async function firewalldAdd(k: AttachmentKey, zone: string, ips: string[]): Promise<void> {
  const sources = ips.map(sourceOf);
  ensurePrivateDir(dir());
  writeFileAtomic(file(k), JSON.stringify({ zone, sources } satisfies Rec), { durable: false });
  for (const s of sources) await firewalldSource('add', zone, s);
}

export async function firewalldDel(k: AttachmentKey): Promise<void> {
  const text = readIfExists(file(k));
  if (text === undefined) return;
  const rec = JSON.parse(text) as Rec;
  for (const s of rec.sources) await firewalldSource('remove', rec.zone, s);
  fs.rmSync(file(k), { force: true });
}

export const firewalldHas = (k: AttachmentKey): boolean => fs.existsSync(file(k));
