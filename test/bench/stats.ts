/** Small statistics for benchmark reports. */
export function percentile(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}

export const median = (samples: number[]): number => percentile(samples, 50);

export const fmt = (ms: number): string => `${ms.toFixed(3)} ms`;
