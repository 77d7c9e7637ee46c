import fs from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';

/** schemas/graph.schema.json compiled by ajv in strict mode; returns the errors (none: valid). */
export function graphSchemaErrors(): (data: unknown) => string[] {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  const validate = ajv.compile(JSON.parse(fs.readFileSync(path.resolve('schemas/graph.schema.json'), 'utf8')) as object);
  return (data) => (validate(data) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`));
}
