import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { run } from '../../core/src/index.js';

/**
 * A private dockerd (own data-root, exec-root, socket, its own managed containerd) inside a test's
 * network namespace, so its iptables chains and its FORWARD policy DROP land there, never on the
 * real host. Docker 20.10 sets DROP only when it switches forwarding on itself: set
 * net.ipv4.ip_forward=0 in the namespace first to get the policy a fresh Docker host has.
 * Stopped and removed when the test ends.
 */
export function privateDockerd(ns: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-tfw-dockerd-'));
  const sock = path.join(dir, 'sock');
  let child: ChildProcess | undefined;
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    c.kill('SIGTERM');
    await new Promise((r) => c.once('exit', r));
  };
  onTestFinished(async () => {
    await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const start = async () => {
    const log = fs.openSync(path.join(dir, 'log'), 'a');
    child = spawn('nsenter', [`--net=/run/netns/${ns}`, 'dockerd', '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'pid'), '-H', `unix://${sock}`, '--bridge=none'], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    for (let i = 0; i < 100; i++) {
      const r = await run(['docker', '-H', `unix://${sock}`, 'info', '--format', '{{.ServerVersion}}'], { check: false });
      if (r.code === 0) return;
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`private dockerd did not start:\n${fs.readFileSync(path.join(dir, 'log'), 'utf8').slice(-2000)}`);
  };
  /** `DOCKER_HOST` for the docker CLI to talk to this dockerd. */
  return { start, stop, host: `unix://${sock}` };
}
