/**
 * Bad input, table-driven over the served OpenAPI document: for every documented operation,
 * cases generated from its body, query and path schemas (testing/bad-input.ts) — wrong types
 * (including strings a coercing validator would accept for numbers and booleans), strings and
 * lists one over their limit, patterns, malformed host names, CIDRs, addresses, e-mail
 * addresses, ids and times, strings holding U+0000 (NUL) or a lone UTF-16 surrogate, and
 * unknown fields in every object and query string — must each answer 400 SY_VALIDATION in the
 * one error shape, naming the offending field in `details` and nothing outside it (so the rest
 * of the generated request was valid). Requests wrong as a whole (not JSON, not an object,
 * nested deeper than any schema, too large, a body where none is taken) must each answer the
 * 4xx of their code in the catalogue. None of them may change a row of the database.
 *
 * Calls are made as a platform admin so authorization never masks validation. The schemas
 * themselves are checked too: every input string has a length limit, every input object
 * refuses unknown fields, and every host-name or network field has a format.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { ERRORS } from './lib/errors.js';
import { badCases, hostileRequests, openObjects, resolverFor, stringFields, unboundedStrings, type BadCase, type Resolve } from './testing/bad-input.js';
import { snapshotDatabase } from './testing/db-snapshot.js';
import { ADMIN_TOKEN, createHarness, createUser, login, seedTenant, type Harness } from './testing/harness.js';
import { fillPath, operations, type Operation } from './testing/openapi.js';

const PARAMS: Record<string, string> = {
  tenant: 'acme',
  database: 'orders',
  userId: '6f1c2d9e-4c1b-4a8e-9a57-2f7b0f1d9c11',
  tokenId: '9b2f8c1e-3d4a-4e5f-8a6b-7c8d9e0f1a2b',
  certificateId: '7d1f8a8e-8a53-4e4b-9a3e-2f0c6f1c9b11',
  acmeId: '5b7c1e0a-3f0e-4f43-9a57-8a0f0e6b2c11',
  proxyId: 'proxy-1',
  connectionId: '0.1',
};

/** Field names that hold host names or networks; each must carry a format that checks it. */
const NETWORK_NAME = /(host(name)?s?|cidrs?|domains?|suffix(es)?|address|destination)$/i;
/** Network-looking fields deliberately without a format, and why. */
const NETWORK_EXEMPT: Record<string, string> = {};
const NETWORK_FORMATS = ['cidr', 'dns-suffix', 'route-hostname', 'upstream-host', 'ip-port', 'ip'];

let h: Harness;
let ops: Operation[];
let resolve: Resolve;

let before: Record<string, string>;

beforeAll(async () => {
  h = await createHarness();
  await seedTenant(h, 'acme');
  ops = operations(h.app);
  resolve = resolverFor(h.app.swagger() as never);
  before = await snapshotDatabase(h.app.prisma);
});
afterAll(async () => h.close());

async function send(op: Operation, c: BadCase) {
  const qs = new URLSearchParams(c.query).toString();
  const url = fillPath(op.path, c.params) + (qs ? `?${qs}` : '');
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` };
  let payload: string | undefined;
  if (c.body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(c.body);
  }
  return h.app.inject({ method: op.method as never, url, payload, headers });
}

const ERROR_KEYS = ['statusCode', 'code', 'error', 'message', 'requestId', 'details'];

/** What is wrong with an error answer: not the one shape, or not the request id of its header. */
function shapeProblems(res: { body: string; headers: Record<string, unknown> }, body: Record<string, unknown>): string[] {
  return [
    Object.keys(body).every((k) => ERROR_KEYS.includes(k)) ? null : `unexpected keys ${Object.keys(body).join(',')}`,
    typeof body.message === 'string' && body.message.length > 0 ? null : 'no message',
    body.requestId && body.requestId === res.headers['x-request-id'] ? null : 'requestId does not match X-Request-Id',
  ].filter((p): p is string => p !== null);
}

describe('bad input answers 400 naming the field', () => {
  it('for every generated case of every documented operation', async () => {
    const failures: string[] = [];
    let count = 0;
    const covered = new Set<string>();
    for (const op of ops) {
      for (const c of badCases(op, PARAMS, resolve)) {
        count += 1;
        covered.add(op.key);
        const res = await send(op, c);
        const where = `${op.key}: ${c.what}`;
        if (res.statusCode !== 400) {
          failures.push(`${where} → ${res.statusCode} ${res.body.slice(0, 200)}`);
          continue;
        }
        const body = res.json();
        const fields: string[] = (body.details ?? []).map((d: { field?: string }) => d.field ?? '');
        const problems = [
          ...shapeProblems(res, body),
          body.statusCode === 400 && body.code === 'SY_VALIDATION' && body.error === 'Bad Request' ? null : `code ${body.code}`,
          fields.includes(c.field) ? null : `details do not name ${c.field}`,
          fields.every((f) => f === c.within || f.startsWith(`${c.within}.`)) ? null : `details name fields outside ${c.within}: ${fields.join(', ')}`,
        ].filter(Boolean);
        if (problems.length) failures.push(`${where} → ${problems.join('; ')} (${res.body.slice(0, 300)})`);
      }
    }
    expect(failures, `${failures.length} of ${count} bad requests were not refused properly`).toEqual([]);
    // Every operation that takes input got cases.
    const withInput = ops.filter((o) => o.body || o.parameters.length > 0).map((o) => o.key);
    expect(withInput.filter((k) => !covered.has(k))).toEqual([]);
    expect(count).toBeGreaterThan(300);
  });

  it('for every request wrong as a whole, to every documented operation', async () => {
    const failures: string[] = [];
    let count = 0;
    for (const op of ops) {
      for (const c of hostileRequests(op, resolve)) {
        count += 1;
        const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, ...c.headers };
        const res = await h.app.inject({ method: op.method as never, url: fillPath(op.path, PARAMS), payload: c.payload, headers });
        const where = `${op.key}: ${c.what}`;
        const body = res.headers['content-type']?.toString().startsWith('application/json') ? res.json() : {};
        const code = c.codes.find((k) => k === body.code);
        const problems = [
          code && res.statusCode === ERRORS[code].status && body.statusCode === res.statusCode ? null : `expected ${c.codes.join(' or ')}`,
          ...shapeProblems(res, body),
          code !== 'SY_VALIDATION' || !c.field || (body.details ?? []).some((d: { field?: string }) => d.field === c.field) ? null : `details do not name ${c.field}`,
        ].filter(Boolean);
        if (problems.length) failures.push(`${where} → ${res.statusCode} ${problems.join('; ')} (${res.body.slice(0, 200)})`);
      }
    }
    expect(failures, `${failures.length} of ${count} hostile requests were not refused properly`).toEqual([]);
  });

  it('refused requests wrote nothing', async () => {
    expect(await snapshotDatabase(h.app.prisma)).toEqual(before);
  });

  it('every input string has a length limit, and every input object refuses unknown fields', () => {
    const unbounded: string[] = [];
    const open: string[] = [];
    for (const op of ops) {
      if (op.body) {
        unbounded.push(...unboundedStrings('body', op.body, resolve).map((f) => `${op.key} ${f}`));
        open.push(...openObjects('body', op.body, resolve).map((f) => `${op.key} ${f}`));
      }
      for (const p of op.parameters) {
        const part = p.in === 'query' ? 'querystring' : 'params';
        unbounded.push(...unboundedStrings(`${part}.${p.name}`, p.schema, resolve).map((f) => `${op.key} ${f}`));
      }
    }
    expect(unbounded, 'strings without maxLength').toEqual([]);
    expect(open, 'objects without additionalProperties: false').toEqual([]);
  });

  it('every host-name and network field is checked by a format', () => {
    const unchecked: string[] = [];
    for (const op of ops) {
      const fields = [
        ...(op.body ? stringFields('body', op.body, resolve) : []),
        ...op.parameters.flatMap((p) => stringFields(`${p.in === 'query' ? 'querystring' : 'params'}.${p.name}`, p.schema, resolve).map((f) => ({ ...f, name: p.name }))),
      ];
      for (const f of fields) {
        if (!NETWORK_NAME.test(f.name) || f.name in NETWORK_EXEMPT) continue;
        if (!f.format || !NETWORK_FORMATS.includes(f.format)) unchecked.push(`${op.key} ${f.field} (format: ${f.format ?? 'none'})`);
      }
    }
    expect(unchecked).toEqual([]);
  });
});

describe('errors inside unions', () => {
  const details = async (method: string, url: string, body: unknown) => {
    const r = await h.call(method, url, body);
    expect(r.statusCode, r.body).toBe(400);
    return r.json().details as Array<{ field: string; message: string }>;
  };

  it('say what the union accepts, once', async () => {
    expect(await details('POST', '/api/v1/tenants/acme/tokens', { name: 'x', role: 'superuser' })).toEqual([
      { field: 'body.role', message: 'must be one of "owner", "admin", "member"' },
    ]);
    expect(await details('PATCH', '/api/v1/tenants/acme', { maxConnections: '5' })).toEqual([{ field: 'body.maxConnections', message: 'must be integer or null' }]);
    expect(await details('PUT', '/api/v1/tenants/acme/databases/orders/external-access', { enabled: true, proxyProtocol: 'v3' })).toEqual([
      { field: 'body.proxyProtocol', message: 'must be one of "v1", "v2" or null' },
    ]);
  });

  it('keep the error of the branch the value belongs to', async () => {
    expect(await details('PATCH', '/api/v1/tenants/acme', { maxConnections: 0 })).toEqual([{ field: 'body.maxConnections', message: 'must be >= 1' }]);
    const hc = { type: 'udp', intervalMs: 5000, timeoutMs: 2000, rise: 2, fall: 3 };
    expect(await details('PATCH', '/api/v1/tenants/acme/databases/orders', { healthCheck: hc })).toEqual([
      { field: 'body.healthCheck.type', message: 'must be one of "tcp", "tls"' },
    ]);
    expect(await details('PATCH', '/api/v1/tenants/acme/databases/orders', { healthCheck: { ...hc, type: 'tcp', extra: 1 } })).toEqual([
      { field: 'body.healthCheck.extra', message: 'is not a known field' },
    ]);
  });
});

describe('types are not coerced in bodies', () => {
  it('refuses a number where a password string belongs, even in a plugin that adds shared schemas', async () => {
    // Fastify rebuilds the validator of a plugin context that calls addSchema; it must still
    // be the strict one for bodies (lib/validation.ts).
    const local = await createHarness({}, async (app) => {
      await app.register(async (child) => {
        child.addSchema({ $id: 'ChildShared', type: 'object', properties: { note: { type: 'string', maxLength: 10 } } });
        child.post('/test/child-login', {
          schema: {
            body: Type.Object({ password: Type.String({ maxLength: 100 }), note: Type.Optional(Type.Ref('ChildShared')) }, { additionalProperties: false }),
            querystring: Type.Object({ n: Type.Optional(Type.Integer()) }, { additionalProperties: false }),
          },
        }, async (req) => ({ password: typeof (req.body as { password: unknown }).password, n: (req.query as { n?: unknown }).n ?? null }));
      });
    });
    try {
      const bad = await local.app.inject({ method: 'POST', url: '/test/child-login', payload: { password: 12345 } });
      expect(bad.statusCode, bad.body).toBe(400);
      expect(bad.json()).toMatchObject({ code: 'SY_VALIDATION', details: [{ field: 'body.password' }] });
      const unknown = await local.app.inject({ method: 'POST', url: '/test/child-login', payload: { password: 'x', extra: true } });
      expect(unknown.json()).toMatchObject({ code: 'SY_VALIDATION', details: [{ field: 'body.extra', message: 'is not a known field' }] });
      const shared = await local.app.inject({ method: 'POST', url: '/test/child-login', payload: { password: 'x', note: { note: 7 } } });
      expect(shared.json()).toMatchObject({ code: 'SY_VALIDATION', details: [{ field: 'body.note.note' }] });
      // Query strings are text on the wire and are coerced.
      const ok = await local.app.inject({ method: 'POST', url: '/test/child-login?n=5', payload: { password: 'x', note: { note: 'hi' } } });
      expect(ok.statusCode, ok.body).toBe(200);
      expect(ok.json()).toEqual({ password: 'string', n: 5 });
    } finally {
      await local.close();
    }
  });

  it('refuses a number as the password at login and at user creation', async () => {
    const login1 = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'ada@example.com', password: 123456789012 } });
    expect(login1.json()).toMatchObject({ statusCode: 400, code: 'SY_VALIDATION', details: [{ field: 'body.password' }] });
    const create = await h.call('POST', '/api/v1/users', { email: 'num@example.com', name: 'Num', password: 123456789012 });
    expect(create.json()).toMatchObject({ statusCode: 400, code: 'SY_VALIDATION', details: [{ field: 'body.password' }] });
    // And a signed-in user's password change.
    await createUser(h, 'ada@example.com', 'correct horse battery staple');
    const s = await login(h, 'ada@example.com', 'correct horse battery staple');
    const change = await s.call('POST', '/api/v1/auth/password', { currentPassword: 'correct horse battery staple', newPassword: 123456789012345 });
    expect(change.json()).toMatchObject({ statusCode: 400, code: 'SY_VALIDATION', details: [{ field: 'body.newPassword' }] });
  });
});
