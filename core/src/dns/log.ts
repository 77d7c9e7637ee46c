/**
 * A log that cannot flood: at most `perMinute` lines a minute (a fault repeated per packet must
 * not fill the disk), then one line saying how many were left out. Never throws.
 */
export function boundedLog(write: (line: string) => void = (l) => process.stderr.write(l), perMinute = 20): (line: string) => void {
  let count = 0;
  let dropped = 0;
  let windowStart = Date.now();
  return (line: string) => {
    try {
      const now = Date.now();
      if (now - windowStart > 60_000) {
        if (dropped > 0) write(`tsnet dns: ${dropped} more log lines left out\n`);
        windowStart = now;
        count = 0;
        dropped = 0;
      }
      if (++count > perMinute) {
        dropped++;
        return;
      }
      write(line.endsWith('\n') ? line : `${line}\n`);
    } catch {
      // logging itself failed: nothing left to do
    }
  };
}

/** An error as one log text: its stack when it has one. */
export const errorText = (e: unknown): string => (e instanceof Error ? (e.stack ?? e.message) : String(e));
