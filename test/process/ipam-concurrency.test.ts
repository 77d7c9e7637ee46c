import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allocate, LeaseStore, parseRangeSet, run, start } from '../../core/src/index.js';
import { tmpDir } from '../helpers/tmpdir.js';

const WORKER = ['node', '--import', 'tsx', 'test/helpers/ipam-worker.ts'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('IPAM across processes', () => {
  it('32 processes allocating in parallel from one /24 get 32x6 distinct addresses', async () => {
    const dir = tmpDir('ipam-par');
    const results = await Promise.all(
      Array.from({ length: 32 }, (_, p) => run([...WORKER, 'alloc', dir, `p${p}`, '6'], { timeoutMs: 120_000 })),
    );
    const ips = results.flatMap((r) => JSON.parse(r.stdout) as string[]);
    expect(ips).toHaveLength(192);
    expect(new Set(ips).size).toBe(192);
    // The store agrees: 192 leases, each owned by the process that got it.
    const store = new LeaseStore(dir, 'concurrency');
    const leases = store.leases();
    expect(leases).toHaveLength(192);
    expect(new Set(leases.map((l) => l.ip))).toEqual(new Set(ips));
  }, 180_000);

  it('kill -9 at random moments during allocate/release loops leaves a consistent store', async () => {
    const dir = tmpDir('ipam-kill');
    const logs: string[] = [];
    for (let round = 0; round < 8; round++) {
      const log = path.join(dir, `log-${round}`);
      fs.writeFileSync(log, '');
      logs.push(log);
      const workers = [0, 1].map((w) => start([...WORKER, 'churn', path.join(dir, 'leases'), log, String(round * 10 + w + 1)]));
      // The kill lands at a random moment of the churn, not of a slow start on a loaded machine:
      // wait (bounded) for the first logged call before the clock starts.
      for (let i = 0; i < 300 && fs.readFileSync(log, 'utf8') === ''; i++) await sleep(100);
      await sleep(900 + ((round * 137) % 400));
      for (const w of workers) w.kill('SIGKILL');
      await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null || w.signalCode !== null ? r(null) : w.once('exit', r)))));
    }
    const leaseDir = path.join(dir, 'leases');
    const store = new LeaseStore(leaseDir, 'concurrency');

    // No torn file: every address file holds "ID\r\nIFNAME".
    const names = fs.readdirSync(leaseDir).filter((n) => /^\d+\.\d+\.\d+\.\d+$/u.test(n));
    for (const n of names) expect(fs.readFileSync(path.join(leaseDir, n), 'utf8')).toMatch(/^w\d+k\d+\r\neth0$/u);

    // No lost lease: each key belongs to one worker, which logs "B" before a call and "A ip" / "R"
    // after it. A key whose last line is "A ip" must own ip; after "R" it must own nothing; after
    // "B" a kill cut the call and either outcome is right.
    const last = new Map<string, string[]>();
    let completed = 0;
    for (const log of logs) {
      for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
        const parts = line.split(' ');
        if (!parts[1]) continue;
        if (parts[0] !== 'B') completed++;
        last.set(parts[1], parts);
      }
    }
    expect(completed).toBeGreaterThan(50);
    const held = store.leases();
    let judged = 0;
    for (const [id, [op, , ip]] of last) {
      if (op === 'A') expect(store.owner(ip!)).toEqual({ id, ifname: 'eth0' });
      if (op === 'R') expect(held.filter((l) => l.key.id === id)).toEqual([]);
      if (op !== 'B') judged++;
    }
    expect(judged).toBeGreaterThan(10);

    // The next calls read the state correctly: fill the rest of the /24 with new keys, no duplicates.
    const set = [parseRangeSet([{ subnet: '10.50.0.0/24' }])];
    const before = store.leases().length;
    const fresh: string[] = [];
    for (let i = 0; i < 253 - before; i++) {
      const [l] = await allocate(store, { key: { id: `fresh${i}`, ifname: 'eth0' }, rangeSets: set });
      fresh.push(l!.ip);
    }
    const all = store.leases().map((l) => l.ip);
    expect(all).toHaveLength(253);
    expect(new Set(all).size).toBe(253);
    await expect(allocate(store, { key: { id: 'one-more', ifname: 'eth0' }, rangeSets: set })).rejects.toMatchObject({ code: 'POOL_EXHAUSTED' });
  }, 180_000);
});
