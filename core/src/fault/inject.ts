import { callStarted, currentCall, envVar } from '../call/context.js';
import { trace } from '../exec.js';
import { InvalidArgumentError, TsnetError } from '../errors.js';
import { ALL_FAULT_STEPS, type FaultStep } from './steps.js';

/**
 * Fault injection for tests: `TSNET_FAULT=after:STEP:kill|fail` (or `before:STEP:...`, a comma
 * list of several), read from the current call's environment (envVar: in the warm worker
 * process.env is not the caller's). `fail` throws FAULT_INJECTED, the code's own rollback runs;
 * `kill` SIGKILLs the process doing the work (a one-shot process, or the warm worker, whose
 * launcher then reports the call lost: CNI code 11, CLI WORKER_LOST), so nothing of the code runs
 * after it, as with a power cut or an OOM kill. Unset, a call costs one environment lookup.
 */
type When = 'before' | 'after';
type Action = 'kill' | 'fail';
interface Rule {
  when: When;
  step: string;
  action: Action;
}

const known = new Set<string>(ALL_FAULT_STEPS);
let cached: { spec: string; rules: Rule[] } | undefined;

/** Parses a TSNET_FAULT value; an unknown step or action is a usage error (a typo must not pass silently). */
export function parseFaultSpec(spec: string): Rule[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const [when, step, action, ...rest] = s.split(':');
      if ((when !== 'before' && when !== 'after') || step === undefined || !known.has(step) || (action !== 'kill' && action !== 'fail') || rest.length > 0) {
        throw new InvalidArgumentError(`invalid TSNET_FAULT entry ${JSON.stringify(s)}: want before|after:STEP:kill|fail, STEP one of ${[...known].join(', ')}`);
      }
      return { when, step, action };
    });
}

function rules(): Rule[] | undefined {
  const spec = envVar('TSNET_FAULT');
  if (spec === undefined || spec === '') return undefined;
  if (cached?.spec !== spec) cached = { spec, rules: parseFaultSpec(spec) };
  return cached.rules;
}

/** Rules that fired in a call: each fires once, so a rollback passing the same step runs whole. */
const fired = new WeakMap<object, Set<Rule>>();

function trigger(rule: Rule): void {
  const call = currentCall();
  const done = fired.get(call) ?? new Set<Rule>();
  if (done.has(rule)) return;
  fired.set(call, done.add(rule));
  if (rule.action === 'fail') throw new TsnetError('FAULT_INJECTED', `fault injected ${rule.when} step ${rule.step} (TSNET_FAULT)`, { step: rule.step, when: rule.when });
  process.kill(process.pid, 'SIGKILL');
  // The signal is delivered at once; nothing of the caller may run meanwhile.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
}

/** When each call passed its previous step point (TSNET_TRACE): the time each step took. */
const lastStep = new WeakMap<object, number>();

function traceStep(step: string, when: When | 'at'): void {
  if (!envVar('TSNET_TRACE')) return;
  const call = currentCall();
  const now = performance.now();
  const prev = lastStep.get(call) ?? callStarted();
  lastStep.set(call, now);
  trace(`step ${when}:${step} +${(now - prev).toFixed(2)} ms`);
}

/**
 * The fault point just after `step` was done (its undo registered). Under TSNET_TRACE it also
 * prints the time since the call's previous step point, so a slow step is named.
 */
export function fault(step: FaultStep, when: When = 'after'): void {
  traceStep(step, when);
  const rs = rules();
  if (rs === undefined) return;
  for (const r of rs) if (r.step === step && r.when === when) trigger(r);
}

/** A point of a call that is not a fault step, named only in TSNET_TRACE's step times. */
export const traceMark = (label: string): void => traceStep(label, 'at');

/** The fault point just before `step` starts. */
export const faultBefore = (step: FaultStep): void => fault(step, 'before');
