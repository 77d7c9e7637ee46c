import fs from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';

const compiled = new Map<string, (data: unknown) => string[]>();

/**
 * schemas/FILE (e.g. "trace.schema.json") compiled by ajv in strict mode: an unknown keyword or a
 * loose type in the schema throws here rather than being ignored. The validator returns the
 * errors, one line each (none: valid).
 */
export function schemaErrors(file: string): (data: unknown) => string[] {
  let v = compiled.get(file);
  if (!v) {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    const validate = ajv.compile(JSON.parse(fs.readFileSync(path.resolve('schemas', file), 'utf8')) as object);
    v = (data) => (validate(data) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`));
    compiled.set(file, v);
  }
  return v;
}
