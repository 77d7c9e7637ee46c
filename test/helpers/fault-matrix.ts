import { expect } from 'vitest';
import type { ExecResult } from '../../core/src/index.js';
import { FAULT_STEPS, type FaultOperation } from '../../core/src/fault/index.js';
import { expectFaulted, expectSameView, hostView, MODES, type FaultHost } from './fault.js';

/**
 * One operation of the CLI under every fault of its steps. Additive operations (connect, run)
 * must leave the state they started from after a `fail` with no help (their own rollback) and
 * after a `kill` once the user has run `tsnet doctor --fix` and undone the operation if it took
 * effect; removing ones (disconnect, rm, network rm) must reach the state before the thing they
 * remove existed after `tsnet doctor --fix` and a retry. Then `tsnet doctor` finds nothing.
 */
export interface CliOp {
  op: FaultOperation;
  additive: boolean;
  /** Makes what the operation removes (removing ones). */
  make?(h: FaultHost): Promise<void>;
  act(h: FaultHost, env: Record<string, string>): Promise<ExecResult>;
  /** Undo (additive) or retry (removing) plus any fixture teardown; exit codes are not judged. */
  finish(h: FaultHost): Promise<void>;
  /** Container namespaces whose interfaces are part of the view. */
  watch?(h: FaultHost): string[];
}

const ok = async (p: Promise<ExecResult>, what: string): Promise<ExecResult> => {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr}`);
  return r;
};

export async function runCliMatrix(h: FaultHost, spec: CliOp): Promise<number> {
  const view = () => hostView(h, spec.watch?.(h) ?? []);
  const start = await view();
  let cases = 0;
  for (const step of FAULT_STEPS[spec.op]) {
    for (const mode of MODES) {
      const what = `${spec.op} after:${step}:${mode}`;
      if (spec.make) await spec.make(h);
      const r = await spec.act(h, { TSNET_FAULT: `after:${step}:${mode}` });
      expectFaulted(r, mode, what);
      if (spec.additive && mode === 'fail') expectSameView(start, await view(), `${what}: rolled back by itself`);
      await ok(h.cli({}, 'doctor', '--fix'), `${what}: doctor --fix`).catch(() => undefined); // judged below
      await spec.finish(h);
      const doc = await h.cli({}, 'doctor');
      expect(doc.code, `${what}: doctor after recovery: ${doc.stdout}`).toBe(0);
      expectSameView(start, await view(), `${what}: after recovery`);
      cases++;
    }
  }
  return cases;
}
