import type { ExecResult } from '../../core/src/index.js';

/** Retries a probe until it succeeds (servers need a moment to listen); returns the last result. */
export async function eventually(probe: () => Promise<ExecResult>, tries = 15): Promise<ExecResult> {
  let r = await probe();
  for (let i = 1; i < tries && r.code !== 0; i++) {
    await new Promise((res) => setTimeout(res, 200));
    r = await probe();
  }
  return r;
}
