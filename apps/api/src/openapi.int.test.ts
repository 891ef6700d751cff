/**
 * The OpenAPI document at /docs describes every operation with examples: a summary, an
 * example request body where there is a body, and an example of the success response. Each
 * example must be valid against its own schema (with the API's own validator and formats), so
 * examples cannot silently go stale when a schema changes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAjv } from './lib/validation.js';
import { resolverFor, type Resolve } from './testing/bad-input.js';
import { createHarness, type Harness } from './testing/harness.js';
import type { JsonSchema } from './testing/openapi.js';

interface Media {
  schema?: JsonSchema;
  example?: unknown;
  examples?: Record<string, { value: unknown }>;
}
interface Op {
  summary?: string;
  requestBody?: { content?: Record<string, Media> };
  responses: Record<string, { content?: Record<string, Media> }>;
}

let h: Harness;
let doc: { paths: Record<string, Record<string, Op>>; components?: { schemas?: Record<string, JsonSchema> } };
let resolve: Resolve;
const ajv = createAjv(false);

beforeAll(async () => {
  h = await createHarness();
  doc = h.app.swagger() as never;
  resolve = resolverFor(doc);
});
afterAll(async () => h.close());

function operations(): Array<[string, Op]> {
  return Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([m, op]) => [`${m.toUpperCase()} ${path}`, op] as [string, Op]));
}

/** A copy of the schema with every $ref replaced by its target, for Ajv. */
function inline(schema: unknown, depth = 0): unknown {
  if (depth > 50) throw new Error('schema nests too deep (a $ref cycle?)');
  if (Array.isArray(schema)) return schema.map((s) => inline(s, depth + 1));
  if (schema === null || typeof schema !== 'object') return schema;
  const s = (schema as JsonSchema).$ref ? resolve(schema as JsonSchema) : (schema as Record<string, unknown>);
  // $id would make Ajv keep one copy per id; examples are data, not schema.
  return Object.fromEntries(Object.entries(s).filter(([k]) => k !== '$id' && k !== 'examples').map(([k, v]) => [k, inline(v, depth + 1)]));
}

/** The documented examples of a media type: media `example(s)` or the schema's own `examples`. */
function examplesOf(media: Media): unknown[] {
  if (media.example !== undefined) return [media.example];
  if (media.examples) return Object.values(media.examples).map((e) => e.value);
  const s = media.schema ? resolve(media.schema) : undefined;
  return s?.examples ?? [];
}

function invalidExamples(where: string, media: Media): string[] {
  if (!media.schema) return [];
  const validate = ajv.compile(inline(media.schema) as object);
  return examplesOf(media).flatMap((ex, i) =>
    validate(structuredClone(ex)) ? [] : [`${where} example ${i}: ${ajv.errorsText(validate.errors)}`],
  );
}

describe('OpenAPI document', () => {
  it('is served at /docs/json', async () => {
    const r = await h.app.inject({ method: 'GET', url: '/docs/json' });
    expect(r.statusCode).toBe(200);
    expect(Object.keys(r.json().paths).length).toBe(Object.keys(doc.paths).length);
  });

  it('gives every operation a summary', () => {
    expect(operations().filter(([, op]) => !op.summary?.trim()).map(([k]) => k)).toEqual([]);
  });

  it('gives every request body a valid example', () => {
    const missing: string[] = [];
    const invalid: string[] = [];
    for (const [key, op] of operations()) {
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
        if (examplesOf(media).length === 0) missing.push(`${key} ${type}`);
        invalid.push(...invalidExamples(`${key} request ${type}`, media));
      }
    }
    expect(missing, 'request bodies without an example').toEqual([]);
    expect(invalid, 'request examples that fail their schema').toEqual([]);
  });

  it('gives every success response with content a valid example', () => {
    const missing: string[] = [];
    const invalid: string[] = [];
    for (const [key, op] of operations()) {
      const success = Object.keys(op.responses).filter((c) => /^2\d\d$/.test(c));
      expect(success.length, `${key} documents no success response`).toBeGreaterThan(0);
      for (const code of success) {
        for (const [type, media] of Object.entries(op.responses[code]!.content ?? {})) {
          if (examplesOf(media).length === 0) missing.push(`${key} ${code} ${type}`);
          invalid.push(...invalidExamples(`${key} ${code} ${type}`, media));
        }
      }
    }
    expect(missing, 'success responses without an example').toEqual([]);
    expect(invalid, 'response examples that fail their schema').toEqual([]);
  });
});
