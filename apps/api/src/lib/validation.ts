/**
 * Request validation: one validator factory for every Fastify context, so the rules hold in
 * every route plugin.
 *
 * Bodies are JSON and must have the declared types: no coercion ("5432" stays a string and is
 * refused where a port is an integer; 12345 is refused where a password is a string) and no
 * silently dropped unknown fields (schemas say `additionalProperties: false`). Query strings,
 * path parameters and headers are text on the wire, so they are coerced.
 *
 * Why a factory and not `setValidatorCompiler`: Fastify rebuilds the validator of any plugin
 * context that calls `addSchema`, from the factory of the root options — which, after
 * `setValidatorCompiler` on the root, is still the default Ajv compiler with the server-wide
 * `ajv` options (coercing bodies too). A factory given as `schemaController.compilersFactory`
 * is the one Fastify uses for every context, shared schemas included.
 */
import { canonicalDestination, isIpLiteral, isValidHostname, isValidWildcardHostname, normalizeHostname, parseCidr, parseIp } from '@switchyard/core';
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import type { FastifySchemaCompiler } from 'fastify';

const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

/**
 * Formats the API's schemas use for network names (documented in OpenAPI as `format`). The
 * services apply the policy rules (which domains, which networks); these only decide
 * "is this a host name / CIDR at all", so malformed input is a 400 naming the field.
 */
export const NETWORK_FORMATS: Record<string, { test: (s: string) => boolean; message: string }> = {
  /** An IP address or `address/prefix` with zero host bits, IPv4 or IPv6. */
  cidr: { test: (s) => parseCidr(s.trim()) !== null, message: 'is not an IP address or a CIDR with zero host bits (e.g. 10.42.0.0/16)' },
  /** A DNS suffix of at least two labels; a leading `*.` or `.` is accepted. */
  'dns-suffix': {
    test: (s) => {
      const h = normalizeHostname(s.replace(/^\*?\./, ''));
      return h !== null && isValidHostname(h);
    },
    message: 'is not a DNS suffix with at least two labels (e.g. acme.svc.cluster.local)',
  },
  /** A fully qualified host name, or a `*.` wildcard over one (certificates, routes). */
  'route-hostname': {
    test: (s) => {
      const h = normalizeHostname(s);
      return h !== null && (isValidHostname(h) || isValidWildcardHostname(h));
    },
    message: 'is not a valid host name (at least two labels; a wildcard is one leading "*." label)',
  },
  /** A fully qualified host name or an IP literal (IPv6 optionally in brackets). */
  'upstream-host': {
    test: (s) => {
      const h = normalizeHostname(s.replace(/^\[|\]$/g, ''));
      return h !== null && (isIpLiteral(h) || isValidHostname(h));
    },
    message: 'is not a fully qualified host name or an IP address',
  },
  /** An IP literal with a port: `10.1.2.3:443`, `[fd00::1]:443`. */
  'ip-port': { test: (s) => canonicalDestination(s) !== null, message: 'is not an IP address with a port (e.g. 10.1.2.3:443)' },
  /** An IPv4 or IPv6 address. */
  ip: { test: (s) => parseIp(s) !== null, message: 'is not an IP address' },
};

/** Formats for text people read (documented in OpenAPI as `format`). */
export const TEXT_FORMATS: Record<string, { test: (s: string) => boolean; message: string }> = {
  /** A tenant, user or token name: at least one character that is not white space. */
  'display-name': { test: (s) => s.trim() !== '', message: 'must not be blank' },
};

const rfc3339 = (fullFormats['date-time'] as { validate: (s: string) => boolean }).validate;
/** The instants every time field may hold: what PostgreSQL and `Date#toISOString` both write as a four-digit year. */
const MIN_INSTANT = new Date('0001-01-01T00:00:00Z').getTime();
const MAX_INSTANT = new Date('9999-12-31T23:59:59.999Z').getTime();

/**
 * Time formats. `date-time` is RFC 3339 (ajv-formats' full check) narrowed to instants the API
 * can store and print: years 0001–9999 in UTC (after the offset is applied) and no leap second.
 * Without the narrowing, `0000-01-01T00:00:00Z` or `23:59:60` reached PostgreSQL or
 * `toISOString()` and came back as 500; a token expiring `9999-12-31T23:59:59-23:59` (year
 * 10000 in UTC) was stored and then broke every listing of the tenant's tokens.
 */
export const TIME_FORMATS: Record<string, { test: (s: string) => boolean; message: string }> = {
  'date-time': {
    test: (s) => {
      if (!rfc3339(s)) return false;
      const t = Date.parse(s);
      return Number.isFinite(t) && t >= MIN_INSTANT && t <= MAX_INSTANT;
    },
    message: 'must be an RFC 3339 date-time between the years 0001 and 9999 UTC, without a leap second (e.g. 2026-11-22T08:00:00Z)',
  },
};

/** Every custom format with the message its validation error carries. */
export const FORMAT_MESSAGES: Record<string, { test: (s: string) => boolean; message: string }> = { ...NETWORK_FORMATS, ...TEXT_FORMATS, ...TIME_FORMATS };

export function createAjv(coerce: boolean): Ajv {
  const opts: Options = { removeAdditional: false, coerceTypes: coerce ? 'array' : false, allErrors: true, strict: false, useDefaults: true };
  const ajv = addFormats(new Ajv(opts));
  // (Replaces ajv-formats' own `date-time`.)
  for (const [name, f] of Object.entries(FORMAT_MESSAGES)) ajv.addFormat(name, { type: 'string', validate: f.test });
  return ajv;
}

/**
 * `compilersFactory.buildValidator`: Fastify calls it with a context's shared schemas
 * (`addSchema`) whenever that context's validator must be (re)built — for every route of a
 * context that added schemas. Bodies get a strict Ajv, every other part a coercing one; the
 * pair is built once per set of shared schemas (per app), like Fastify's own compiler pool.
 */
export function createValidatorFactory(): (externalSchemas?: Record<string, unknown>) => FastifySchemaCompiler<unknown> {
  const pool = new Map<string, FastifySchemaCompiler<unknown>>();
  return (externalSchemas = {}) => {
    const key = JSON.stringify(externalSchemas);
    let compiler = pool.get(key);
    if (!compiler) {
      const strict = createAjv(false);
      const coercing = createAjv(true);
      for (const schema of Object.values(externalSchemas)) {
        strict.addSchema(schema as object);
        coercing.addSchema(schema as object);
      }
      compiler = ({ schema, httpPart }) => refusingUnstorable((httpPart === 'body' ? strict : coercing).compile(schema as object));
      pool.set(key, compiler);
    }
    return compiler;
  };
}

/** U+0000 (NUL): PostgreSQL text cannot store it. */
const NUL = '\0';
/** An unpaired UTF-16 surrogate (a pair is one code point in a `u` regex, so only lone ones match). */
const LONE_SURROGATE = /\p{Cs}/u;

/** What makes a string unstorable, or null. */
function unstorable(s: string): string | null {
  if (s.includes(NUL)) return 'must not contain the NUL character (U+0000)';
  if (LONE_SURROGATE.test(s)) return 'must not contain a lone UTF-16 surrogate (U+D800–U+DFFF without its pair)';
  return null;
}

/** A key as it may appear in an error's field name (the unstorable characters replaced). */
const printable = (k: string) => k.replaceAll(NUL, '\uFFFD').replace(new RegExp(LONE_SURROGATE.source, 'gu'), '\uFFFD');

/**
 * The first string (value or key) in `data` that PostgreSQL text cannot hold, with its path
 * (`/a/0/b`, Ajv's `instancePath`), or null:
 *   - U+0000 (NUL): without this check such a value passed every schema and failed at the
 *     database as a 500;
 *   - a lone UTF-16 surrogate (JSON `"\ud800"`): not text, so UTF-8 cannot carry it, and it
 *     was stored as U+FFFD — a name other than the one sent, answered with 201.
 * The walk is iterative, with the path built only for the string found: a body nested tens of
 * thousands of levels deep (a few bytes per level) overflowed the stack of a recursive walk,
 * a 500 on every route that takes a body.
 */
export function unstorableText(data: unknown): { path: string; message: string } | null {
  interface Frame {
    value: unknown;
    parent: Frame | null;
    key: string;
  }
  const pathOf = (f: Frame): string => {
    const keys: string[] = [];
    for (let at: Frame | null = f; at?.parent; at = at.parent) keys.push(at.key);
    return keys.reverse().map((k) => `/${k}`).join('');
  };
  const stack: Frame[] = [{ value: data, parent: null, key: '' }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const { value } = frame;
    if (typeof value === 'string') {
      const message = unstorable(value);
      if (message !== null) return { path: pathOf(frame), message };
    } else if (value !== null && typeof value === 'object') {
      const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
      // Pushed last to first: the first offending string in document order is the one reported.
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, v] = entries[i]!;
        const message = unstorable(k);
        if (message !== null) return { path: pathOf({ value: v, parent: frame, key: printable(k) }), message };
        stack.push({ value: v, parent: frame, key: k });
      }
    }
  }
  return null;
}

/**
 * A schema's validator that first refuses any string PostgreSQL text cannot hold (U+0000, a
 * lone surrogate), anywhere in the request part, as a validation error on that field (400
 * SY_VALIDATION, the field named).
 */
function refusingUnstorable(validate: ValidateFunction): ValidateFunction {
  const wrapped = ((data: unknown) => {
    const found = unstorableText(data);
    if (found !== null) {
      const error: ErrorObject = { keyword: 'unstorable', instancePath: found.path, schemaPath: '#', params: {}, message: found.message };
      wrapped.errors = [error];
      return false;
    }
    const ok = validate(data);
    wrapped.errors = validate.errors;
    return ok;
  }) as ValidateFunction;
  wrapped.schema = validate.schema;
  wrapped.schemaEnv = validate.schemaEnv;
  return wrapped;
}
