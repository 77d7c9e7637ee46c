import { currentCall } from '../call/context.js';
import type { OnProgress } from '../progress.js';
import type { OutputFormat } from './output.js';

/** At most one redraw per this many ms (each is a frame through the worker); the last always. */
const MIN_GAP_MS = 50;

export interface ProgressLine {
  /** The callback to hand to the long operation. */
  update: OnProgress;
  /** Erases the line (call when the operation ends, also on failure). */
  end(): void;
}

/**
 * A one-line counter on stderr (`LABEL: 3/40 what`, redrawn in place with CR and erase-line),
 * only when the caller's stderr is a terminal and the output is text: piped output, logs and
 * `--format json` never see it. Stdout is never touched.
 */
export function progressLine(label: string, format: OutputFormat): ProgressLine {
  const call = currentCall();
  if (!call.stderrIsTTY || format === 'json') return { update: () => undefined, end: () => undefined };
  let last = -Infinity;
  let drawn = false;
  return {
    update(done, total, what) {
      const now = performance.now();
      if (drawn && done < total && now - last < MIN_GAP_MS) return;
      last = now;
      drawn = true;
      call.stderr(`\r\x1b[K${label}: ${done}/${total}${what ? ` ${what}` : ''}`);
    },
    end() {
      if (drawn) call.stderr('\r\x1b[K');
      drawn = false;
    },
  };
}

/** Runs fn with a progress line that is erased however fn ends. */
export async function withProgress<T>(label: string, format: OutputFormat, fn: (update: OnProgress) => Promise<T> | T): Promise<T> {
  const line = progressLine(label, format);
  try {
    return await fn(line.update);
  } finally {
    line.end();
  }
}
