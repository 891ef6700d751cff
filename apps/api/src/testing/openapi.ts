/**
 * Enumerates the API's operations from its OpenAPI document, for the table-driven isolation
 * and bad-input tests: every documented route is exercised, and a route without an entry in
 * those tables fails them.
 */
import type { App } from '../app.js';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  examples?: unknown[];
  default?: unknown;
  additionalProperties?: boolean | JsonSchema;
  [k: string]: unknown;
}

export interface Parameter {
  in: 'path' | 'query' | 'header';
  name: string;
  required?: boolean;
  schema: JsonSchema;
}

export interface Operation {
  method: string;
  /** OpenAPI path, e.g. /api/v1/tenants/{tenant}. */
  path: string;
  key: string;
  summary?: string;
  parameters: Parameter[];
  body: JsonSchema | null;
  /** The first documented example of the request body. */
  bodyExample: unknown;
  public: boolean;
}

export function operations(app: App): Operation[] {
  const doc = app.swagger() as unknown as { paths: Record<string, Record<string, Record<string, any>>> };
  const out: Operation[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const media = op.requestBody?.content?.['application/json'];
      const body = (media?.schema as JsonSchema | undefined) ?? null;
      const bodyExample =
        body?.examples?.[0] ?? media?.example ?? (media?.examples ? (Object.values(media.examples)[0] as { value: unknown }).value : undefined);
      out.push({
        method: method.toUpperCase(),
        path,
        key: `${method.toUpperCase()} ${path}`,
        summary: op.summary,
        parameters: (op.parameters ?? []) as Parameter[],
        body,
        bodyExample,
        public: Array.isArray(op.security) && op.security.length === 0,
      });
    }
  }
  return out;
}

/** Fills `{name}` placeholders; throws naming a placeholder that has no value. */
export function fillPath(path: string, values: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for path parameter {${name}} in ${path}: add one to the test's PARAMS`);
    return encodeURIComponent(v);
  });
}
