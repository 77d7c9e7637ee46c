import type { ChildProcess } from 'node:child_process';
import { TsnetError } from '../../errors.js';
import { start } from '../../exec.js';

/**
 * `nft -a monitor trace` in one namespace, spawned: nft prints each trace event with the rule's
 * text and handle as it already knows how to (iptables-nft rules included), which an in-process
 * NFNL reader would have to re-implement; the trace is not a hot path. The child is bounded by
 * `timeout`, so even a kill -9 of tsnet leaves no monitor running past the bound.
 */
export class TraceMonitor {
  private readonly child: ChildProcess;
  private text = '';
  private waiters: (() => void)[] = [];
  private exited = false;

  constructor(nsPath: string | undefined, boundSeconds: number) {
    const nft = ['timeout', String(boundSeconds), 'nft', '-a', 'monitor', 'trace'];
    this.child = start(nsPath === undefined ? nft : ['nsenter', `--net=${nsPath}`, ...nft], { stdio: 'pipe' });
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (d: string) => {
      this.text += d;
      this.wake();
    });
    this.child.stderr?.on('data', () => undefined);
    this.child.on('exit', () => {
      this.exited = true;
      this.wake();
    });
    this.child.on('error', () => {
      this.exited = true;
      this.wake();
    });
  }

  /** The spawned program's pid (undefined when it could not start). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Every complete line printed so far (a line still being written is left out). */
  output(): string {
    return this.text.slice(0, this.text.lastIndexOf('\n') + 1);
  }

  /** Waits until the output contains `needle`, calling `poke` (e.g. send a sentinel) every 50 ms. */
  async waitFor(needle: string, timeoutMs: number, poke: () => void = () => undefined): Promise<void> {
    const t0 = Date.now();
    while (!this.output().includes(needle)) {
      if (this.exited) throw new TsnetError('EXEC_FAILED', 'nft monitor trace exited before it reported anything (is nftables tracing available?)');
      if (Date.now() - t0 > timeoutMs) throw new TsnetError('TIMEOUT', `nft monitor trace did not report the sentinel within ${timeoutMs} ms`);
      poke();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  stop(): void {
    if (!this.exited) this.child.kill('SIGTERM');
  }
}
