import { InvalidArgumentError } from '../errors.js';

/** Refuses -o options a driver does not know, listing the ones it does. */
export function checkOptions(driver: string, options: Record<string, string>, known: string[]): Record<string, string> {
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) {
      throw new InvalidArgumentError(`unknown option ${JSON.stringify(k)} for the ${driver} driver; known: ${known.join(', ') || '(none)'}`, { option: k, driver });
    }
  }
  return { ...options };
}

/** An MTU option (68-65535) under any of the given names. */
export function mtuOption(options: Record<string, string>, names: string[]): number | undefined {
  const raw = names.map((n) => options[n]).find((v) => v !== undefined);
  if (raw === undefined) return undefined;
  const mtu = Number(raw);
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new InvalidArgumentError(`invalid mtu ${JSON.stringify(raw)}: 68-65535`);
  return mtu;
}

/** Parses ["k=v", ...] as given on the command line. */
export function parseKeyValues(items: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`invalid ${what} ${JSON.stringify(item)}: expected key=value`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}
