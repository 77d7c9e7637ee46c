import fs from 'node:fs';
import path from 'node:path';
import { CNI_ERR, CniError } from '@tsnet/core/plugin';
import type { NetlinkApi } from '@tsnet/core/plugin';
import type { Link } from '@tsnet/core/plugin';
import type { DeviceSelector } from './config.js';

/** Interface names under a sysfs device's `net/` directory (none if it has no network function). */
function sysfsNetNames(deviceDir: string): string[] {
  try {
    return fs.readdirSync(path.join(deviceDir, 'net'));
  } catch {
    return [];
  }
}

/** The host link a selector names, as the reference finds it: by name, by MAC, or through sysfs. */
export async function findHostLink(host: NetlinkApi, sel: DeviceSelector): Promise<Link> {
  const missing = (what: string) => new CniError(CNI_ERR.INVALID_CONFIG, `host-device: no host link ${what}`, 'LINK_NOT_FOUND');
  if (sel.by === 'device') return host.linkByName(sel.name).catch(() => Promise.reject(missing(`named ${sel.name}`)));
  if (sel.by === 'hwaddr') {
    const hit = (await host.linkList()).find((l) => l.mac.toLowerCase() === sel.mac);
    if (!hit) throw missing(`with MAC ${sel.mac}`);
    return hit;
  }
  const dir = sel.by === 'kernelpath' ? sel.path : path.join('/sys/bus/pci/devices', sel.id);
  const names = sysfsNetNames(dir);
  if (names.length === 0) throw missing(`under ${dir}`);
  return host.linkByName(names[0]!).catch(() => Promise.reject(missing(`named ${names[0]!} (from ${dir})`)));
}
