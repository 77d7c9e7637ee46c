import { errorText } from './log.js';

/**
 * The resolver's last line: an error that escaped every handler (an exception thrown from an
 * event callback, a rejected promise nobody awaited) is logged and the process goes on serving.
 * What the resolver does per packet and per reload is already caught where it happens; this is
 * for what was missed, so a bug costs one query, not every name of every network. Returns a
 * function that removes the handlers (tests).
 */
export function installLastResort(log: (line: string) => void): () => void {
  const onException = (e: unknown) => log(`tsnet dns: uncaught exception (ignored, still serving): ${errorText(e)}`);
  const onRejection = (e: unknown) => log(`tsnet dns: unhandled rejection (ignored, still serving): ${errorText(e)}`);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.removeListener('uncaughtException', onException);
    process.removeListener('unhandledRejection', onRejection);
  };
}
