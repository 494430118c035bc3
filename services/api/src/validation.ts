import Ajv, { type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { TSchema } from '@sinclair/typebox';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';

const common: Options = {
  // Unknown fields are an error, not silently dropped.
  removeAdditional: false,
  useDefaults: true,
  allErrors: false,
  // Schemas carry OpenAPI annotations (examples, contentMediaType) that are not validation keywords.
  strict: false,
};

/**
 * Request validators. JSON bodies are validated as sent — with coercion, ajv would turn the metadata
 * value 42 into "42" (first branch of string | number). Query strings, path parameters and multipart
 * fields arrive as text and are coerced to the schema's types (`k=10` → 10).
 */
export function createValidatorCompiler(
  /** The shared schemas (`$id` = component name) that request schemas `$ref`. */
  sharedSchemas: readonly TSchema[] = [],
): FastifySchemaCompiler<FastifySchema> {
  const exact = new Ajv({ ...common, coerceTypes: false });
  const coercing = new Ajv({ ...common, coerceTypes: 'array' });
  for (const ajv of [exact, coercing]) {
    addFormats(ajv);
    for (const schema of sharedSchemas) ajv.addSchema(schema);
  }
  return ({ schema, httpPart, contentType }) => {
    const textual = httpPart !== 'body' || contentType === 'multipart/form-data';
    return (textual ? coercing : exact).compile(schema);
  };
}
