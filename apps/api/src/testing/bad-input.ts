/**
 * Generates bad requests from an operation's documented schemas (body, query, path), for the
 * table-driven contract test: for every field a value of the wrong type, a string (or list)
 * one over its limit, a number just out of range, a value off its pattern, a malformed value
 * for formatted fields (host names, CIDRs, addresses, e-mail, ids, times), a string holding
 * U+0000 or a lone UTF-16 surrogate, and an unknown field in every object. Each case says which
 * field the 400 must name. `hostileRequests` adds what is wrong with a request as a whole
 * (not JSON, not an object, nested past any schema, a body where none is taken).
 *
 * Schemas come from the served OpenAPI document, where one schema object may be shared by
 * several places (and `$ref`s point into components): nothing here mutates a schema or an
 * example; values are built fresh or cloned before they are changed.
 */
import { randomUUID } from 'node:crypto';
import type { ErrorCode } from '../lib/errors.js';
import type { JsonSchema, Operation } from './openapi.js';

export interface BadCase {
  /** What is wrong, for the assertion message. */
  what: string;
  /** The field the error must name, e.g. `body.upstream.port`, `querystring.limit`. */
  field: string;
  /**
   * Every field named in `details` must lie within this one: the rest of the request is valid,
   * and errors stay on the field (a union such as `X | null` does not add its own).
   */
  within: string;
  params: Record<string, string>;
  query: Record<string, string>;
  /** The JSON body, or undefined for none. */
  body: unknown;
}

export const UNKNOWN_FIELD = 'zzUnknownField';

/** Malformed values per format; each must fail the format and nothing else that is easy to confuse. */
export const BAD_FORMAT_VALUES: Record<string, string[]> = {
  cidr: ['10.0.0.1/8', '300.1.2.3', '10.0.0.0/33', 'db.example.com', 'fd00::1/129'],
  'dns-suffix': ['local', 'bad..example.com', '-acme.example.com', 'acme_ns.svc.cluster.local', '10.0.0.1'],
  'route-hostname': ['localhost', 'bad_name.example.com', '*.*.example.com', 'db.*.example.com', '10.1.2.3'],
  'upstream-host': ['pg', 'pg rw.acme.svc.cluster.local', 'pg..acme.svc.cluster.local', 'pg-.acme.svc.cluster.local'],
  'ip-port': ['10.1.2.3', '10.1.2.3:0', '10.1.2.3:65536', 'api.example.com:443'],
  ip: ['10.1.2', '10.1.2.256', 'egress.example.com'],
  email: ['not-an-address', 'ada@'],
  uuid: ['not-a-uuid', '6f1c2d9e-4c1b-4a8e-9a57-2f7b0f1d9c1'],
  // Years 0000 and (after the offset) 10000 and a leap second: RFC 3339, but not storable.
  'date-time': ['yesterday', '2026-13-01T00:00:00Z', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59-23:59', '2026-12-31T23:59:60Z'],
};

/** A valid value per format, for building the parents of a field under test. */
const GOOD_FORMAT_VALUES: Record<string, () => string> = {
  cidr: () => '10.42.0.0/16',
  'dns-suffix': () => 'acme.svc.cluster.local',
  'route-hostname': () => 'orders.acme.db.example.com',
  'upstream-host': () => 'pg.acme.svc.cluster.local',
  'ip-port': () => '10.1.2.3:443',
  ip: () => '10.1.2.3',
  email: () => 'ada@example.com',
  uuid: () => randomUUID(),
  'date-time': () => new Date(Date.now() + 86_400_000).toISOString(),
};

export type Resolve = (schema: JsonSchema) => JsonSchema;

/** Follows `$ref: '#/components/schemas/X'` (repeatedly) in `doc`. */
export function resolverFor(doc: { components?: { schemas?: Record<string, JsonSchema> } }): Resolve {
  return function resolve(schema) {
    let s = schema;
    for (let hops = 0; typeof s.$ref === 'string'; hops++) {
      if (hops > 20) throw new Error(`$ref loop at ${String(schema.$ref)}`);
      const name = /^#\/components\/schemas\/(.+)$/.exec(s.$ref)?.[1];
      const target = name ? doc.components?.schemas?.[name] : undefined;
      if (!target) throw new Error(`unresolvable $ref ${String(s.$ref)}`);
      s = target;
    }
    return s;
  };
}

const isNullSchema = (s: JsonSchema) => s.type === 'null' || s.const === null;

/** The non-null branches of a schema (`anyOf: [X, null]` → [X]). */
function branches(s: JsonSchema, resolve: Resolve): JsonSchema[] {
  const r = resolve(s);
  return r.anyOf ? r.anyOf.map(resolve).filter((b) => !isNullSchema(b)) : [r];
}

function typeOf(s: JsonSchema): string | undefined {
  return Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
}

/** A valid value for a schema (documented example first). Returned values are fresh copies. */
export function sample(schema: JsonSchema, resolve: Resolve): unknown {
  const s = resolve(schema);
  if (s.examples?.length) return structuredClone(s.examples[0]);
  if (s.default !== undefined) return structuredClone(s.default);
  if (s.const !== undefined) return s.const;
  if (s.enum?.length) return s.enum[0];
  if (s.anyOf) return sample(branches(s, resolve)[0] ?? { type: 'null' }, resolve);
  switch (typeOf(s)) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const name of s.required ?? []) out[name] = sample(s.properties![name]!, resolve);
      return out;
    }
    case 'array':
      return Array.from({ length: Math.max(1, s.minItems ?? 0) }, () => sample(s.items!, resolve));
    case 'string':
      if (s.format && GOOD_FORMAT_VALUES[s.format]) return GOOD_FORMAT_VALUES[s.format]!();
      return 'a'.repeat(Math.max(1, s.minLength ?? 1));
    case 'integer':
    case 'number':
      return s.minimum ?? 1;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return 'a';
  }
}

/** A JSON value of a type the schema does not accept (a coercible one where there is one). */
function wrongTypeInBody(s: JsonSchema, resolve: Resolve): unknown {
  const types = new Set(branches(s, resolve).map((b) => (b.enum || b.const !== undefined ? 'enum' : typeOf(b))));
  // Strings that a coercing validator would turn into the right type catch coercion.
  if (types.has('integer') || types.has('number')) return types.has('string') ? [] : '5';
  if (types.has('boolean')) return 'true';
  if (types.has('string')) return 12345;
  if (types.has('enum')) return 12345;
  if (types.has('array')) return 'not a list';
  if (types.has('object')) return 'not an object';
  return { unexpected: true };
}

/** Query strings are text: a value that does not parse as the declared type, or is not in the enum. */
function wrongTypeInQuery(s: JsonSchema, resolve: Resolve): string | null {
  const b = branches(s, resolve)[0]!;
  if (b.enum || b.const !== undefined) return 'not-one-of-the-values';
  switch (typeOf(b)) {
    case 'integer':
      return '1.5x';
    case 'number':
      return 'many';
    case 'boolean':
      return 'maybe';
    default:
      return null;
  }
}

type Path = Array<string | number>;
const fieldOf = (part: string, path: Path) => [part, ...path].join('.');

function setAt(root: unknown, path: Path, value: unknown, schemaAt: (depth: number) => JsonSchema, resolve: Resolve): unknown {
  if (path.length === 0) return value;
  const top = (root ?? sample(schemaAt(0), resolve)) as Record<string | number, unknown>;
  let node = top;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    let next = node[key];
    if (next === null || typeof next !== 'object') {
      next = sample(schemaAt(i + 1), resolve);
      // The parent may be a union that samples to null, or a list sampled empty.
      if (next === null || typeof next !== 'object') next = typeof path[i + 1] === 'number' ? [] : {};
      node[key] = next;
    }
    node = next as Record<string | number, unknown>;
  }
  node[path[path.length - 1]!] = value;
  return top;
}

/** One node of the body schema tree: its path and (resolved) schema. */
interface Node {
  path: Path;
  schema: JsonSchema;
  /** Schemas from the root down to this node (for building missing parents). */
  chain: JsonSchema[];
}

function walk(root: JsonSchema, resolve: Resolve): Node[] {
  const out: Node[] = [];
  const visit = (schema: JsonSchema, path: Path, chain: JsonSchema[], seen: Set<JsonSchema>) => {
    const s = resolve(schema);
    // Shared schema objects are fine; a schema inside itself would never end.
    if (seen.has(s)) return;
    const inner = new Set(seen).add(s);
    out.push({ path, schema: s, chain: [...chain, s] });
    for (const b of branches(s, resolve)) {
      if (typeOf(b) === 'object' && b.properties) {
        for (const [name, p] of Object.entries(b.properties)) visit(p, [...path, name], [...chain, b], inner);
      } else if (typeOf(b) === 'array' && b.items) {
        visit(b.items, [...path, 0], [...chain, b], inner);
      }
    }
  };
  visit(root, [], [], new Set());
  return out;
}

/** The object branch of a node, if it has one. */
function objectBranch(s: JsonSchema, resolve: Resolve): JsonSchema | undefined {
  return branches(s, resolve).find((b) => typeOf(b) === 'object');
}

function numberBranch(s: JsonSchema, resolve: Resolve): JsonSchema | undefined {
  return branches(s, resolve).find((b) => typeOf(b) === 'integer' || typeOf(b) === 'number');
}

/** Numbers just outside the declared range. */
function outOfRange(s: JsonSchema | undefined): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  if (s?.minimum !== undefined) out.push([`below its minimum ${s.minimum}`, s.minimum - 1]);
  if (s?.maximum !== undefined) out.push([`above its maximum ${s.maximum}`, s.maximum + 1]);
  return out;
}

function stringBranch(s: JsonSchema, resolve: Resolve): JsonSchema | undefined {
  return branches(s, resolve).find((b) => typeOf(b) === 'string' && !b.enum && b.const === undefined);
}

/**
 * A string no field may hold: PostgreSQL text cannot store U+0000, so it is refused as a
 * validation error (lib/validation.ts) instead of failing at the database as a 500.
 */
const NUL_VALUE = 'a\u0000b';
/**
 * Unpaired UTF-16 surrogates (JSON `"\ud800"` parses into one): not text, so UTF-8 cannot carry
 * them and they used to be stored as U+FFFD, a different name than the one sent.
 */
const LONE_SURROGATES: Array<[string, string]> = [
  ['a lone high surrogate', 'a\ud800b'],
  ['a lone low surrogate', '\udc00'],
];

/** Every bad-input case for one operation. `params` holds valid path parameter values. */
export function badCases(op: Operation, params: Record<string, string>, resolve: Resolve): BadCase[] {
  const cases: BadCase[] = [];
  // Required query parameters get a valid value in every case (none of today's are required).
  const query = Object.fromEntries(op.parameters.filter((x) => x.in === 'query' && x.required).map((x) => [x.name, String(sample(x.schema, resolve))]));
  const base = { params, query, body: op.body ? structuredClone(op.bodyExample) : undefined };

  // Path parameters.
  for (const p of op.parameters.filter((x) => x.in === 'path')) {
    const field = `params.${p.name}`;
    const s = stringBranch(p.schema, resolve);
    const bad: Array<[string, string]> = [];
    if (s?.maxLength !== undefined) bad.push([`longer than ${s.maxLength}`, 'a'.repeat(s.maxLength + 1)]);
    if (s?.pattern) bad.push(['not matching its pattern', 'Not_A_Slug!']);
    for (const v of BAD_FORMAT_VALUES[s?.format ?? ''] ?? []) bad.push([`malformed ${s!.format}`, v]);
    if (s) bad.push(['holding a NUL character', NUL_VALUE]);
    for (const [what, v] of bad) cases.push({ ...base, body: structuredClone(base.body), what: `${field} ${what}`, field, within: field, params: { ...params, [p.name]: v } });
  }

  // Query parameters (text on the wire; coerced, so "wrong type" means "does not parse").
  const queryParams = op.parameters.filter((x) => x.in === 'query');
  for (const p of queryParams) {
    const field = `querystring.${p.name}`;
    const add = (what: string, v: string) =>
      cases.push({ ...base, body: structuredClone(base.body), what: `${field} ${what}`, field, within: field, query: { ...query, [p.name]: v } });
    const wrong = wrongTypeInQuery(p.schema, resolve);
    if (wrong !== null) add('of the wrong type', wrong);
    for (const [what, n] of outOfRange(numberBranch(p.schema, resolve))) add(what, String(n));
    const s = stringBranch(p.schema, resolve);
    if (s?.maxLength !== undefined) add(`longer than ${s.maxLength}`, 'a'.repeat(s.maxLength + 1));
    if (s?.pattern) add('not matching its pattern', 'Not_A_Slug!');
    for (const v of BAD_FORMAT_VALUES[s?.format ?? ''] ?? []) add(`malformed ${s!.format}`, v);
    if (s) add('holding a NUL character', NUL_VALUE);
  }
  if (queryParams.length > 0) {
    const field = `querystring.${UNKNOWN_FIELD}`;
    cases.push({ ...base, body: structuredClone(base.body), what: 'an unknown query parameter', field, within: field, query: { ...query, [UNKNOWN_FIELD]: '1' } });
  }

  // Body.
  if (op.body) {
    for (const node of walk(op.body, resolve)) {
      const field = fieldOf('body', node.path);
      const at = (what: string, value: unknown, target = field, path = node.path, within = field) =>
        cases.push({
          ...base,
          what,
          field: target,
          within,
          body: setAt(structuredClone(base.body), path, value, (d) => node.chain[d] ?? node.schema, resolve),
        });
      at(`${field} of the wrong type`, wrongTypeInBody(node.schema, resolve));
      for (const [what, n] of outOfRange(numberBranch(node.schema, resolve))) at(`${field} ${what}`, n);
      const s = stringBranch(node.schema, resolve);
      if (s?.maxLength !== undefined) at(`${field} longer than ${s.maxLength}`, 'a'.repeat(s.maxLength + 1));
      if (s?.pattern) at(`${field} not matching its pattern`, 'Not_A_Slug!');
      for (const v of BAD_FORMAT_VALUES[s?.format ?? ''] ?? []) at(`${field} malformed ${s!.format}: "${v}"`, v);
      if (s) at(`${field} holding a NUL character`, NUL_VALUE);
      for (const [what, v] of s ? LONE_SURROGATES : []) at(`${field} holding ${what}`, v);
      const arr = branches(node.schema, resolve).find((b) => typeOf(b) === 'array');
      if (arr?.maxItems !== undefined) {
        at(`${field} with more than ${arr.maxItems} items`, Array.from({ length: arr.maxItems + 1 }, () => sample(arr.items!, resolve)));
      }
      if (objectBranch(node.schema, resolve)) {
        // Missing parents (the object itself may be absent from the example) are built valid.
        const target = fieldOf('body', [...node.path, UNKNOWN_FIELD]);
        at(`an unknown field in ${field}`, 1, target, [...node.path, UNKNOWN_FIELD]);
      }
    }
  }
  return cases;
}

/** Every string of an input schema (with its field path) that has no length limit. */
export function unboundedStrings(part: string, schema: JsonSchema, resolve: Resolve): string[] {
  return walk(schema, resolve)
    .filter((n) => {
      const s = stringBranch(n.schema, resolve);
      return s !== undefined && s.maxLength === undefined;
    })
    .map((n) => fieldOf(part, n.path));
}

/** Every object of an input schema that accepts fields it does not declare. */
export function openObjects(part: string, schema: JsonSchema, resolve: Resolve): string[] {
  return walk(schema, resolve)
    .filter((n) => {
      const o = objectBranch(n.schema, resolve);
      return o !== undefined && o.additionalProperties !== false;
    })
    .map((n) => fieldOf(part, n.path));
}

/** Fields with their (string) format, for checking that host names and networks have one. */
export function stringFields(part: string, schema: JsonSchema, resolve: Resolve): Array<{ field: string; name: string; format?: string }> {
  return walk(schema, resolve).flatMap((n) => {
    const s = stringBranch(n.schema, resolve);
    if (!s) return [];
    const named = [...n.path].reverse().find((k) => typeof k === 'string') ?? part;
    return [{ field: fieldOf(part, n.path), name: String(named), format: s.format }];
  });
}

/** A request that is wrong as a whole, and the codes (each with its catalogue status) it may get. */
export interface HostileRequest {
  what: string;
  headers: Record<string, string>;
  /** The raw body. */
  payload: string;
  codes: ErrorCode[];
  /** The field `details` must name, when the answer is SY_VALIDATION. */
  field?: string;
}

const JSON_TYPE = { 'content-type': 'application/json' };
/** Deeper than any schema (and than a recursive walk survives); the bodies stay under 256 KiB. */
const DEEP = 40_000;
const deepArrays = (n: number) => '['.repeat(n) + ']'.repeat(n);
const deepObjects = (n: number) => '{"a":'.repeat(n / 2) + '1' + '}'.repeat(n / 2);

/**
 * Requests that are wrong as a whole, for every operation: bodies that are not JSON, not UTF-8
 * or not declared as JSON, JSON that is not an object, nesting deeper than any schema (as the
 * body and inside an unknown field), a body over the 256 KiB limit, and a body sent to an
 * operation that takes none (GET included).
 */
export function hostileRequests(op: Operation, resolve: Resolve): HostileRequest[] {
  const example = op.body ? JSON.stringify(op.bodyExample ?? sample(op.body, resolve)) : '{"force":true}';
  const withField = (raw: string) => example.replace(/^\{/, `{"${UNKNOWN_FIELD}":${raw}${example === '{}' ? '' : ','}`);
  const notJson: HostileRequest[] = [
    { what: 'invalid JSON', headers: JSON_TYPE, payload: example.slice(0, -1), codes: ['SY_BAD_REQUEST'] },
    { what: 'JSON with a trailing comma', headers: JSON_TYPE, payload: `${example.slice(0, -1)},}`, codes: ['SY_BAD_REQUEST'] },
    { what: 'a text/plain body', headers: { 'content-type': 'text/plain' }, payload: example, codes: ['SY_UNSUPPORTED_MEDIA_TYPE'] },
    { what: 'a form body', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'name=x', codes: ['SY_UNSUPPORTED_MEDIA_TYPE'] },
    { what: 'JSON declared as UTF-16', headers: { 'content-type': 'application/json; charset=utf-16' }, payload: example, codes: ['SY_UNSUPPORTED_MEDIA_TYPE'] },
    { what: 'a body without Content-Type', headers: {}, payload: example, codes: ['SY_UNSUPPORTED_MEDIA_TYPE'] },
    { what: 'a body over 256 KiB', headers: JSON_TYPE, payload: withField(JSON.stringify('a'.repeat(256 * 1024))), codes: ['SY_PAYLOAD_TOO_LARGE'] },
  ];
  // Without a body schema, any of these is "a body where none is taken" once it parses.
  const noBody = (c: HostileRequest): HostileRequest => ({ ...c, codes: [...new Set<ErrorCode>([...c.codes, 'SY_VALIDATION'])], field: 'body' });
  if (!op.body) {
    return [
      { what: 'a JSON body to an operation that takes none', headers: JSON_TYPE, payload: example, codes: ['SY_VALIDATION'], field: 'body' },
      { what: 'a JSON list to an operation that takes none', headers: JSON_TYPE, payload: '[]', codes: ['SY_VALIDATION'], field: 'body' },
      ...notJson.map(noBody),
    ];
  }
  const field = `body.${UNKNOWN_FIELD}`;
  return [
    ...notJson,
    { what: 'a list where the body object belongs', headers: JSON_TYPE, payload: `[${example}]`, codes: ['SY_VALIDATION'], field: 'body' },
    { what: 'a string as the body', headers: JSON_TYPE, payload: '"x"', codes: ['SY_VALIDATION'], field: 'body' },
    { what: 'a number as the body', headers: JSON_TYPE, payload: '12', codes: ['SY_VALIDATION'], field: 'body' },
    { what: 'null as the body', headers: JSON_TYPE, payload: 'null', codes: ['SY_VALIDATION'], field: 'body' },
    { what: `lists nested ${DEEP} deep as the body`, headers: JSON_TYPE, payload: deepArrays(DEEP), codes: ['SY_VALIDATION'], field: 'body' },
    { what: `lists nested ${DEEP} deep in a field`, headers: JSON_TYPE, payload: withField(deepArrays(DEEP)), codes: ['SY_VALIDATION'], field },
    { what: `objects nested ${DEEP / 2} deep in a field`, headers: JSON_TYPE, payload: withField(deepObjects(DEEP)), codes: ['SY_VALIDATION'], field },
    { what: 'a key holding a lone surrogate', headers: JSON_TYPE, payload: withField('1').replace(UNKNOWN_FIELD, '\\ud800'), codes: ['SY_VALIDATION'] },
  ];
}
