import fs from 'node:fs';
import path from 'node:path';
import { firewallBackend } from '../firewall/backend.js';
import { firewallName } from '../firewall/name.js';
import type { FwRule } from '../firewall/rules.js';
import { withFileLock } from '../kernel/flock.js';
import { parseCidr } from '../net/ip.js';
import { ensurePrivateDir, stateRoot, writeFileAtomic } from '../state/atomic.js';

/**
 * Outbound masquerade for CNI attachments (bridge ipMasq, as the reference does per container):
 * one record per attachment under $STATE/cni/masq/, and the whole set rendered into tsnet's own
 * CNI table (`inet tsnet_cni`) in one transaction after every change.
 */
interface MasqRecord {
  bridge: string;
  ips: string[];
}

const dir = () => path.join(stateRoot(), 'cni', 'masq');
const file = (network: string, id: string, ifname: string) => path.join(dir(), `${network}--${id}--${ifname}.json`);

function rules(): FwRule[] {
  const records = fs.existsSync(dir()) ? fs.readdirSync(dir()).filter((n) => n.endsWith('.json')).map((n) => JSON.parse(fs.readFileSync(path.join(dir(), n), 'utf8')) as MasqRecord) : [];
  return records.flatMap((r) =>
    r.ips.map((ip): FwRule => {
      const c = parseCidr(ip);
      return { kind: 'masquerade-out', bridge: r.bridge, family: c.family, subnet: `${c.address}/${c.family === 4 ? 32 : 128}` };
    }),
  );
}

async function apply(): Promise<void> {
  const backend = firewallBackend('auto', `${firewallName()}_cni`);
  const set = rules();
  if (set.length === 0) await backend.clear();
  else await backend.apply(set);
}

async function locked(fn: () => void): Promise<void> {
  ensurePrivateDir(dir());
  await withFileLock(path.join(dir(), 'lock'), async () => {
    fn();
    await apply();
  });
}

export const masqAdd = (network: string, id: string, ifname: string, bridge: string, ips: string[]): Promise<void> =>
  locked(() => writeFileAtomic(file(network, id, ifname), JSON.stringify({ bridge, ips } satisfies MasqRecord)));

export const masqDel = (network: string, id: string, ifname: string): Promise<void> =>
  locked(() => fs.rmSync(file(network, id, ifname), { force: true }));
