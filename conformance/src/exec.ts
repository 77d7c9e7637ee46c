import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { run } from '../../core/src/exec.js';
import { withNetns } from '../../core/src/kernel/netns.js';

/** What a plugin printed and how it exited, as a runtime sees it. */
export interface CniOutcome {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, if it is. */
  json?: Record<string, unknown>;
}

export interface CallEnv {
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  /** Drop these variables from the environment (to test missing ones). */
  omit?: string[];
}

/**
 * How a call enters the suite's host namespace: `ip netns exec` (also a private mount namespace
 * with that namespace's /sys; its cost grows with the number of mounts, about 7 ms with none
 * and 15 ms with 1000 namespaces here), `nsenter --net` (the network namespace only, a flat 3-4 ms),
 * or `spawn`: the plugin is forked from this process's thread while it stands in the namespace
 * (withNetns), no program in between, as a runtime living in that namespace runs it (benchmarks).
 */
export type Enter = 'ip-netns-exec' | 'nsenter' | 'spawn';

/**
 * Executes a plugin exactly as a runtime does: the binary from the plugin dir, CNI_* variables,
 * the config on stdin, CNI_PATH pointing at the same dir; optionally from inside a namespace
 * (the suite's private "host"), as a runtime living there would.
 */
export async function cniExec(dir: string, plugin: string, command: string, conf: unknown, env: CallEnv = {}, extraEnv: Record<string, string> = {}, inNetns?: string, enter: Enter = 'ip-netns-exec'): Promise<CniOutcome> {
  const vars: Record<string, string | undefined> = {
    ...process.env,
    ...extraEnv,
    CNI_COMMAND: command,
    CNI_CONTAINERID: env.containerId ?? 'conformance',
    CNI_NETNS: env.netns ?? '',
    CNI_IFNAME: env.ifname ?? 'eth0',
    CNI_PATH: dir,
    CNI_ARGS: env.args ?? '',
  };
  for (const k of env.omit ?? []) delete vars[k];
  const bin = path.join(dir, plugin);
  const opts = { input: typeof conf === 'string' ? conf : JSON.stringify(conf), env: vars, check: false, timeoutMs: 60_000 };
  let r;
  if (inNetns && enter === 'spawn') {
    // The fork happens inside run(), synchronously, before the promise is handed back.
    const pending = withNetns({ path: `/run/netns/${inNetns}`, name: inNetns }, () => ({ p: run([bin], opts) }));
    r = await pending.p;
  } else {
    const argv = !inNetns ? [bin] : enter === 'nsenter' ? ['nsenter', `--net=/run/netns/${inNetns}`, bin] : ['ip', 'netns', 'exec', inNetns, bin];
    r = await run(argv, opts);
  }
  const out: CniOutcome = { code: r.code, stdout: r.stdout, stderr: r.stderr };
  try {
    out.json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return out;
}

export const token = (): string => randomBytes(3).toString('hex');
