import { NETTOOL, type outside, type TestHost } from './host.js';

/** The "outside" namespace of a test host (host.ts `outside`). */
export type Out = Awaited<ReturnType<typeof outside>>;

export const both = { port: true, egress: true };
export const neither = { port: false, egress: false };

/**
 * The firewall tests' two packet probes on container `srv` (serving `hello-tfw` on port 80,
 * published as 8080): its published port from outside, and its egress through masquerade.
 */
export async function reachable(h: TestHost, out: Out): Promise<{ port: boolean; egress: boolean }> {
  const port = await out.exec(['node', NETTOOL, 'tcp', out.hostAddr, '8080'], false);
  const egress = await h.tsnet('nsenter', 'srv', '--', 'ping', '-c', '1', '-W', '1', out.addr);
  return { port: port.stdout === 'hello-tfw\n', egress: egress.code === 0 };
}

/** Milliseconds until both probes pass, polled every 50 ms; throws past `limitMs`. */
export async function untilReachable(h: TestHost, out: Out, limitMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const r = await reachable(h, out);
    if (r.port && r.egress) return Date.now() - t0;
    if (Date.now() - t0 > limitMs) throw new Error(`not reachable after ${limitMs} ms: ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}
