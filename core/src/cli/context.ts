import type { Argv } from 'yargs';
import { callerPath } from '../call/context.js';
import type { FirewallDriver } from '../firewall/backend.js';
import { syncDns } from '../dns/supervisor.js';
import { openEnv, type Env } from '../networks/env.js';
import { traceMark } from '../fault/inject.js';
import { sweepDeadTraces } from '../diag/trace/marker.js';

/** Global options every command accepts. */
export interface GlobalArgs {
  format: 'text' | 'json';
  'firewall-driver'?: FirewallDriver | 'auto';
  'state-dir'?: string;
  store?: string;
  'store-cert'?: string;
  'store-key'?: string;
  'store-ca'?: string;
}

/** Opens the environment for one command and always closes it. */
export async function withEnv<T>(argv: GlobalArgs, fn: (env: Env) => Promise<T>): Promise<T> {
  const opts: Parameters<typeof openEnv>[0] = {};
  const dir = stateDirArg(argv);
  if (dir) opts.stateDir = dir;
  if (argv['firewall-driver']) opts.firewallDriver = argv['firewall-driver'];
  if (argv.store !== undefined) opts.store = String(argv.store);
  const tls: NonNullable<Parameters<typeof openEnv>[0]>['storeTls'] = {};
  for (const k of ['cert', 'key', 'ca'] as const) {
    const v = argv[`store-${k}`];
    if (v !== undefined) tls[k] = callerPath(String(v));
  }
  if (Object.keys(tls).length > 0) opts.storeTls = tls;
  const env = await openEnv(opts);
  traceMark('env-opened');
  // What a killed `tsnet trace` left (its table, its monitor) goes with the next command.
  await sweepDeadTraces(env.store).catch(() => undefined);
  try {
    let result: T;
    try {
      result = await fn(env);
    } catch (e) {
      // A failed command rolled its changes back; the resolver follows the state it left, so no
      // name of a container that never came to be (or is gone) is served. Best effort.
      await syncDns(env.store).catch(() => undefined);
      throw e;
    }
    // After every command the resolver matches the state (started, reloaded, stopped, revived).
    traceMark('command-done');
    await syncDns(env.store);
    traceMark('dns-synced');
    return result;
  } finally {
    env.close();
  }
}

/** The state dir named by --state-dir (relative to the caller's cwd), else the default. */
export const stateDirArg = (argv: GlobalArgs): string | undefined => (argv['state-dir'] ? callerPath(argv['state-dir']) : undefined);

/** Left-aligned columns for text tables. */
export function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}

/** Parsed arguments as handlers read them. */
export type Args = GlobalArgs & Record<string, unknown>;

/** Registers a command whose handler reads plain Args (one cast here instead of in every handler). */
export function command(y: Argv, name: string | string[], desc: string, builder: (a: Argv) => Argv, handler: (argv: Args) => Promise<void>): Argv {
  return y.command(name, desc, builder, (argv) => handler(argv as unknown as Args));
}

/** A repeatable option's values as strings. */
export const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)]);
