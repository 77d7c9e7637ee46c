import { schemaErrors } from './schema.js';

/** schemas/graph.schema.json compiled by ajv in strict mode; returns the errors (none: valid). */
export const graphSchemaErrors = (): ((data: unknown) => string[]) => schemaErrors('graph.schema.json');
