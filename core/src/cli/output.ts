import { out } from '../call/context.js';
export type OutputFormat = 'text' | 'json';

/** Prints a result as JSON or as the given text lines. */
export function print(format: OutputFormat, value: unknown, text: () => string[]): void {
  out(format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : `${text().join('\n')}\n`);
}
