import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished, describe, expect, it } from 'vitest';
import { run } from '../../core/src/index.js';
import type { LoadReport } from '../helpers/dns-client.js';
import { alive, clientOn, container, dnsHost, resolverLog, resolverPid, udp53 } from '../helpers/dns-harness.js';
import { dropNetns, isRoot, testName } from '../helpers/scratch.js';

const A_GW = '10.231.31.1';
const B_GW = '10.231.32.1';
const C_GW = '10.231.33.1';
const ROUNDS = 10;

describe.skipIf(!isRoot)('embedded DNS under reloads (root)', () => {
  it('queries (local and forwarded, UDP and TCP) sent all the time while endpoints come and go: every one answered, right, by the same resolver', async () => {
    const h = await dnsHost('tdr3', { slowMs: 300 });
    for (const [net, subnet] of [['tdr-a', '10.231.31.0/24'], ['tdr-b', '10.231.32.0/24'], ['tdr-c', '10.231.33.0/24']] as const) {
      expect((await h.tsnet('network', 'create', '--subnet', subnet, net)).code).toBe(0);
    }
    expect((await h.tsnet('run', '-d', '--network', 'tdr-a', '--name', 'web', '--alias', 'www', '--', 'sleep', '600')).code).toBe(0);
    expect((await h.tsnet('run', '-d', '--network', 'tdr-b', '--name', 'pay', '--', 'sleep', '600')).code).toBe(0);
    const web = await container(h, 'web');
    const pay = await container(h, 'pay');
    const pid = await resolverPid(h);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-tdr-load-'));
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    const stop = path.join(dir, 'stop');
    onTestFinished(() => fs.writeFileSync(stop, '')); // a failed test stops its clients too
    const progress = (n: string) => Number(fs.existsSync(path.join(dir, n)) ? fs.readFileSync(path.join(dir, n), 'utf8') || 0 : 0);
    // Two clients, each a container of its network, querying its gateway without pause.
    const loads = [
      clientOn(h, 'tdr-a', 'load', A_GW, stop, path.join(dir, 'a'), 'web,www,WEB.tdr-a,a1.fwd.test,slow-a.fwd.test,nx-a.test', '4'),
      clientOn(h, 'tdr-b', 'load', B_GW, stop, path.join(dir, 'b'), 'pay,pay.tdr-b,b1.fwd.test,slow-b.fwd.test,web', '4'),
    ];
    for (const end = Date.now() + 20_000; (progress('a') < 20 || progress('b') < 20) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
    expect(progress('a')).toBeGreaterThanOrEqual(20);
    expect(progress('b')).toBeGreaterThanOrEqual(20);

    // Endpoints come and go on every network, each change a reload (SIGHUP), while the load runs.
    const extra = testName('tdrx');
    await run(['ip', 'netns', 'add', extra]);
    onTestFinished(() => dropNetns(extra));
    const before = { a: progress('a'), b: progress('b') };
    for (let i = 0; i < ROUNDS; i++) {
      const steps = [
        () => h.tsnet('network', 'connect', '--alias', `extra${i}`, 'tdr-a', `/run/netns/${extra}`),
        () => h.tsnet('run', '-d', '--network', 'tdr-b', '--name', `tmp${i}`, '--', 'sleep', '600'),
        // tdr-c's only endpoint: its gateway opens and closes; a forwarded query in flight as it ends.
        () => clientOn(h, 'tdr-c', 'fire', C_GW, `slow-c${i}.fwd.test`),
        () => h.tsnet('network', 'disconnect', 'tdr-a', `/run/netns/${extra}`),
        () => h.tsnet('rm', '-f', `tmp${i}`),
        () => h.tsnet('run', '--network', 'tdr-a', '--', 'true'),
      ];
      for (const step of steps) {
        const r = await step();
        expect(r.code, r.stderr).toBe(0);
      }
      expect(alive(pid)).toBe(true);
    }
    expect(await udp53(h)).toEqual([A_GW, B_GW]); // tdr-c's endpoint is gone, its address too
    const during = { a: progress('a') - before.a, b: progress('b') - before.b };
    fs.writeFileSync(stop, '');
    const reports = (await Promise.all(loads)).map((r) => {
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as LoadReport;
    });

    const [a, b] = reports as [LoadReport, LoadReport];
    // Every query answered (UDP without retries, TCP), and answered right.
    expect(a.unanswered).toEqual([]);
    expect(b.unanswered).toEqual([]);
    expect(a.answered).toBe(a.sent);
    expect(b.answered).toBe(b.sent);
    expect(Object.keys(a.results['web'] ?? {})).toEqual([`NOERROR ${web.ip}`]);
    expect(Object.keys(a.results['www'] ?? {})).toEqual([`NOERROR ${web.ip}`]);
    expect(Object.keys(a.results['WEB.tdr-a'] ?? {})).toEqual([`NOERROR ${web.ip}`]);
    expect(Object.keys(a.results['a1.fwd.test'] ?? {})).toEqual(['NOERROR 192.0.2.7']);
    expect(Object.keys(a.results['slow-a.fwd.test'] ?? {})).toEqual(['NOERROR 192.0.2.8']);
    expect(Object.keys(a.results['nx-a.test'] ?? {})).toEqual(['NXDOMAIN']);
    expect(Object.keys(b.results['pay'] ?? {})).toEqual([`NOERROR ${pay.ip}`]);
    expect(Object.keys(b.results['pay.tdr-b'] ?? {})).toEqual([`NOERROR ${pay.ip}`]);
    expect(Object.keys(b.results['b1.fwd.test'] ?? {})).toEqual(['NOERROR 192.0.2.7']);
    expect(Object.keys(b.results['slow-b.fwd.test'] ?? {})).toEqual(['NOERROR 192.0.2.8']);
    expect(Object.keys(b.results['web'] ?? {})).toEqual(['NXDOMAIN']); // scoped: tdr-b does not know web
    // The load was real: queries kept flowing through the churn.
    expect(during.a).toBeGreaterThanOrEqual(200);
    expect(during.b).toBeGreaterThanOrEqual(200);
    process.stdout.write(`dns reload-under-load: ${ROUNDS * 6} endpoint changes; queries a=${a.sent} b=${b.sent} (during churn a=${during.a} b=${during.b}), all answered\n`);

    expect(alive(pid)).toBe(true);
    expect(await resolverPid(h)).toBe(pid);
    expect(resolverLog(h)).not.toMatch(/uncaught|unhandled|ERR_SOCKET/u);
  }, 240_000);
});
