/**
 * A separate process that uses the IPAM store, for the concurrency and crash tests.
 *   alloc DIR PREFIX N    allocate N keys PREFIX-i, print the addresses as JSON
 *   churn DIR LOG SEED    allocate/release random keys of its own (prefix w<SEED>) forever, appending
 *                         "B key" before each call and "A key ip" / "R key" after it returns, so the
 *                         last line of a key tells its state exactly, or "B" when a kill cut the call
 */
import fs from 'node:fs';
import { allocate, LeaseStore, parseRangeSet, release } from '../../core/src/index.js';

export const WORKER_SUBNET = '10.50.0.0/24';
const [mode, dir, a, b] = process.argv.slice(2);
const store = new LeaseStore(dir!, 'concurrency');
const sets = [parseRangeSet([{ subnet: WORKER_SUBNET }])];

if (mode === 'alloc') {
  const out: string[] = [];
  for (let i = 0; i < Number(b); i++) {
    const [l] = await allocate(store, { key: { id: `${a}-${i}`, ifname: 'eth0' }, rangeSets: sets });
    out.push(l!.ip);
  }
  process.stdout.write(JSON.stringify(out));
} else if (mode === 'churn') {
  const log = fs.openSync(a!, 'a');
  let seed = Number(b);
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const worker = `w${b}`;
  for (;;) {
    const id = `${worker}k${rand(30)}`;
    fs.writeSync(log, `B ${id}\n`);
    if (rand(3) === 0) {
      await release(store, { id, ifname: 'eth0' });
      fs.writeSync(log, `R ${id}\n`);
    } else {
      const [l] = await allocate(store, { key: { id, ifname: 'eth0' }, rangeSets: sets });
      fs.writeSync(log, `A ${id} ${l!.ip}\n`);
    }
  }
}
