import fs from 'node:fs';
import path from 'node:path';
import { CaseContext } from './context.js';
import { CASES, CaseFailure, CaseSkip, DEVIATIONS } from './cases/index.js';
import { cniExec } from './exec.js';

/** Versions of the spec the suite knows how to check. */
export const SPEC_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

export interface CaseResult {
  case: string;
  version?: string;
  /**
   * deviation: every check passed but steps the reference plugins are known to fail
   * (cases/deviations.ts, conformance/README.md), which failed here the known way.
   */
  status: 'pass' | 'fail' | 'skip' | 'deviation';
  detail?: string;
  /** Ids of the known deviations seen (status deviation). */
  deviations?: string[];
}

export interface SuiteOptions {
  plugins: string;
  only?: string[];
  onResult?: (r: CaseResult) => void;
}

/** The versions each plugin in the dir claims in VERSION (a failing VERSION is itself a failure). */
async function claims(dir: string, plugins: string[]): Promise<{ versions: Map<string, string[]>; results: CaseResult[] }> {
  const versions = new Map<string, string[]>();
  const results: CaseResult[] = [];
  for (const p of plugins) {
    const r = await cniExec(dir, p, 'VERSION', { cniVersion: '1.0.0' });
    const list = r.json?.['supportedVersions'];
    if (r.code === 0 && Array.isArray(list)) {
      versions.set(p, list.map(String));
      results.push({ case: `${p}/version`, status: 'pass' });
    } else {
      results.push({ case: `${p}/version`, status: 'fail', detail: `VERSION exited ${r.code}: ${r.stdout}` });
    }
  }
  return { versions, results };
}

/** Runs every applicable case against the plugin executables in `plugins`. */
export async function runSuite(opts: SuiteOptions): Promise<CaseResult[]> {
  const present = fs.readdirSync(opts.plugins).filter((f) => {
    const p = path.join(opts.plugins, f);
    return fs.statSync(p).isFile() && (fs.statSync(p).mode & 0o111) !== 0;
  });
  const wanted = (p: string) => !opts.only || opts.only.includes(p);
  const known = [...new Set(CASES.flatMap((c) => c.needs))].filter((p) => present.includes(p) && wanted(p));
  const { versions, results } = await claims(opts.plugins, known);
  results.forEach((r) => opts.onResult?.(r));
  for (const tc of CASES) {
    if (!tc.needs.every(wanted)) continue;
    const absent = tc.needs.filter((p) => !present.includes(p));
    if (absent.length > 0) {
      results.push({ case: tc.name, status: 'skip', detail: `the plugin dir has no ${absent.join(', ')}` });
      opts.onResult?.(results[results.length - 1]!);
      continue;
    }
    if (!tc.needs.every((p) => versions.has(p))) continue; // its VERSION failed (reported)
    const common = SPEC_VERSIONS.filter((v) => tc.needs.every((p) => versions.get(p)!.includes(v)));
    const eligible = common.filter((v) => !tc.minVersion || v.localeCompare(tc.minVersion, undefined, { numeric: true }) >= 0);
    const report = (r: CaseResult) => {
      results.push(r);
      opts.onResult?.(r);
    };
    if (eligible.length === 0) {
      report({ case: tc.name, status: 'skip', detail: `needs spec ${tc.minVersion ?? SPEC_VERSIONS[0]}+; plugins claim ${common.join(', ') || 'no common version'}` });
      continue;
    }
    for (const version of tc.perVersion ? eligible : [eligible[eligible.length - 1]!]) {
      const ctx = await CaseContext.create(opts.plugins, version);
      try {
        await tc.run(ctx);
        const ids = [...new Set(ctx.deviations.map((d) => d.id))];
        if (ids.length === 0) report({ case: tc.name, version, status: 'pass' });
        else report({ case: tc.name, version, status: 'deviation', deviations: ids, detail: ctx.deviations.map((d) => `${d.id} (${DEVIATIONS[d.id]}): ${d.seen}`).join('; ') });
      } catch (e) {
        if (e instanceof CaseSkip) report({ case: tc.name, version, status: 'skip', detail: e.message });
        else report({ case: tc.name, version, status: 'fail', detail: e instanceof CaseFailure ? e.message : String(e) });
      } finally {
        await ctx.cleanup();
      }
    }
  }
  return results;
}
