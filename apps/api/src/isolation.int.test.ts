/**
 * Tenant isolation, table-driven over the OpenAPI document: every documented endpoint is
 * called
 *   - without credentials (401, unless public),
 *   - as the owner of ANOTHER tenant, by token and by session cookie (404/403, never data),
 *   - as that owner under their OWN tenant's path with the other tenant's object ids (a token,
 *     certificate, ACME order or member of the victim): 404 in the error shape, and the
 *     victim's objects unchanged afterwards,
 *   - as a read-only member of the tenant (403 for writes and admin reads; 2xx for reads,
 *     which also proves the path parameters point at real resources).
 * A new endpoint without an entry in TABLE fails this test: add one (and say which role it
 * needs), so isolation is decided, not assumed.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS, type ErrorCode } from './lib/errors.js';
import { createHarness, createUser, login, seedTenant, type Harness, type Reply, type SessionClient } from './testing/harness.js';
import { fillPath, operations, type Operation } from './testing/openapi.js';

type Entry =
  /** No authentication at all. */
  | { scope: 'public' }
  /** About the caller only (their own session, their visible tenants): never another tenant's data. */
  | { scope: 'self'; body?: unknown }
  /** Platform admins only. */
  | { scope: 'platform' }
  /** Acts on {tenant}: needs at least `min` there; everybody else gets 404/403. */
  | { scope: 'tenant'; min: 'member' | 'admin' | 'owner'; body?: unknown };

const member = { scope: 'tenant', min: 'member' } as const;
const admin = { scope: 'tenant', min: 'admin' } as const;
const platform = { scope: 'platform' } as const;

const TABLE: Record<string, Entry> = {
  'GET /api/v1/meta': { scope: 'public' },
  'POST /api/v1/auth/login': { scope: 'public' },
  'POST /api/v1/auth/logout': { scope: 'self' },
  'GET /api/v1/auth/me': { scope: 'self' },
  'POST /api/v1/auth/password': { scope: 'self', body: { currentPassword: 'not the password', newPassword: 'irrelevant new passphrase' } },
  'POST /api/v1/users': platform,
  'GET /api/v1/users': platform,
  'GET /api/v1/users/{userId}': platform,
  'PATCH /api/v1/users/{userId}': platform,
  'DELETE /api/v1/users/{userId}': platform,
  'POST /api/v1/tenants': platform,
  'GET /api/v1/tenants': { scope: 'self' },
  'GET /api/v1/tenants/{tenant}': member,
  'PATCH /api/v1/tenants/{tenant}': platform,
  'DELETE /api/v1/tenants/{tenant}': platform,
  'GET /api/v1/tenants/{tenant}/members': member,
  'POST /api/v1/tenants/{tenant}/members': admin,
  'PATCH /api/v1/tenants/{tenant}/members/{userId}': admin,
  'DELETE /api/v1/tenants/{tenant}/members/{userId}': admin,
  'POST /api/v1/tenants/{tenant}/databases': admin,
  'GET /api/v1/tenants/{tenant}/databases': member,
  'GET /api/v1/tenants/{tenant}/databases/{database}': member,
  'PATCH /api/v1/tenants/{tenant}/databases/{database}': admin,
  'DELETE /api/v1/tenants/{tenant}/databases/{database}': admin,
  'GET /api/v1/tenants/{tenant}/databases/{database}/external-access': member,
  'PUT /api/v1/tenants/{tenant}/databases/{database}/external-access': admin,
  'POST /api/v1/tenants/{tenant}/external-access/batch': { scope: 'tenant', min: 'admin', body: { items: [{ database: 'orders', enabled: false }] } },
  'GET /api/v1/tenants/{tenant}/discovered-services': member,
  'POST /api/v1/tenants/{tenant}/tokens': admin,
  'GET /api/v1/tenants/{tenant}/tokens': admin,
  'DELETE /api/v1/tenants/{tenant}/tokens/{tokenId}': admin,
  'POST /api/v1/platform/tokens': platform,
  'GET /api/v1/platform/tokens': platform,
  'DELETE /api/v1/platform/tokens/{tokenId}': platform,
  'GET /api/v1/pki/ca.pem': { scope: 'public' },
  'GET /api/v1/tenants/{tenant}/certificates': member,
  'POST /api/v1/tenants/{tenant}/certificates': admin,
  'POST /api/v1/tenants/{tenant}/certificates/upload': admin,
  'GET /api/v1/tenants/{tenant}/certificates/{certificateId}': member,
  'PUT /api/v1/tenants/{tenant}/certificates/{certificateId}': admin,
  'DELETE /api/v1/tenants/{tenant}/certificates/{certificateId}': admin,
  'GET /api/v1/tenants/{tenant}/acme-certificates': member,
  'POST /api/v1/tenants/{tenant}/acme-certificates': admin,
  'GET /api/v1/tenants/{tenant}/acme-certificates/{acmeId}': member,
  'POST /api/v1/tenants/{tenant}/acme-certificates/{acmeId}/renew': admin,
  'DELETE /api/v1/tenants/{tenant}/acme-certificates/{acmeId}': admin,
  'GET /api/v1/acme/metrics': platform,
  // Platform-wide: proxy host names, every tenant's route and connection counts.
  'GET /api/v1/proxies': platform,
  'GET /api/v1/tenants/{tenant}/connection-events': member,
  'GET /api/v1/tenants/{tenant}/connection-events/stats': member,
  'GET /api/v1/tenants/{tenant}/audit-events': admin,
  'GET /api/v1/connection-events': platform,
  'GET /api/v1/audit-events': platform,
  'GET /api/v1/connection-events/stats': platform,
  'GET /api/v1/tenants/{tenant}/connections/live': member,
  'GET /api/v1/connections/live': platform,
  'GET /api/v1/tenants/{tenant}/databases/{database}/external-access/check': member,
  // The connection's tenant decides (admins of it, platform admins); anyone else, and any
  // connection not open, is 404 — no tenant in the path to check here.
  'DELETE /api/v1/proxies/{proxyId}/connections/{connectionId}': { scope: 'self' },
};

const PW = 'correct horse battery staple';
let h: Harness;
let ops: Operation[];
let intruderToken: string;
let intruder: SessionClient;
let victimMember: SessionClient;
const PARAMS: Record<string, string> = { tenant: 'victim', database: 'orders', proxyId: 'proxy-1', connectionId: '0.1' };
/** Strings only the victim tenant's data contains; no answer to an outsider may hold one. */
const markers: string[] = [];

beforeAll(async () => {
  h = await createHarness({ SWITCHYARD_KEYS: `k1:${randomBytes(32).toString('base64')}` });
  const { token: victimToken } = await seedTenant(h, 'victim');
  ({ token: intruderToken } = await seedTenant(h, 'intruder'));
  const owner = await createUser(h, 'victim-owner@example.com', PW, { memberships: [{ tenant: 'victim', role: 'owner' }] });
  await createUser(h, 'victim-member@example.com', PW, { memberships: [{ tenant: 'victim', role: 'member' }] });
  await createUser(h, 'intruder-owner@example.com', PW, { memberships: [{ tenant: 'intruder', role: 'owner' }] });
  const db = await h.call('POST', '/api/v1/tenants/victim/databases', { name: 'orders', engine: 'postgres', upstream: { host: 'pg-secret.victim.svc.cluster.local', port: 5432 } }, victimToken);
  expect(db.statusCode).toBe(201);
  expect((await h.call('PUT', '/api/v1/tenants/victim/databases/orders/external-access', { enabled: true }, victimToken)).statusCode).toBe(200);
  const cert = await h.call('POST', '/api/v1/tenants/victim/certificates', { name: 'victim-cert', type: 'self-signed', hostnames: ['orders.victim.db.example.com'] }, victimToken);
  expect(cert.statusCode, cert.body).toBe(201);
  const tokens = (await h.call('GET', '/api/v1/tenants/victim/tokens', undefined, victimToken)).json().items;
  const tenant = (await h.call('GET', '/api/v1/tenants/victim')).json();
  // An ACME certificate row as the worker leaves it (no CA is configured here).
  const acmeId = '5b7c1e0a-3f0e-4f43-9a57-8a0f0e6b2c11';
  await h.app.prisma.acmeCertificate.create({ data: { id: acmeId, tenantId: (await h.app.prisma.tenant.findFirstOrThrow({ where: { slug: 'victim' } })).id, hostname: 'orders.victim.db.example.com', challengeType: 'tls-alpn-01', state: 'failed' } });
  Object.assign(PARAMS, { tokenId: tokens[0].id, userId: owner.id, certificateId: cert.json().id, acmeId });
  markers.push(tenant.id, db.json().id, 'pg-secret.victim', 'victim-owner@', 'victim-member@', tokens[0].prefix, cert.json().id, cert.json().fingerprint ?? cert.json().id, 'victim Inc', acmeId);
  intruder = await login(h, 'intruder-owner@example.com', PW);
  victimMember = await login(h, 'victim-member@example.com', PW);
  ops = operations(h.app);
});
afterAll(async () => h.close());

function request(op: Operation, entry: Entry): { url: string; body: unknown } {
  const body = ('body' in entry && entry.body) || op.bodyExample;
  if (op.body && body === undefined) throw new Error(`${op.key}: the request body schema has no example; add one (or a body to TABLE)`);
  return { url: fillPath(op.path, PARAMS), body: op.body ? body : undefined };
}

function expectNoVictimData(res: Reply, who: string): void {
  for (const m of markers) expect(res.body, `${who} saw victim data (${m})`).not.toContain(m);
}

/** A refusal in the one error shape: a catalogue code with its status, the request's id. */
function expectRefusal(res: Reply, who: string, statuses: number[]): void {
  expect(statuses, `${who}: ${res.statusCode} ${res.body}`).toContain(res.statusCode);
  const body = res.json();
  const code = body.code as ErrorCode;
  expect(ERRORS[code]?.status, `${who}: code ${code}`).toBe(res.statusCode);
  expect(body).toMatchObject({ statusCode: res.statusCode, requestId: res.headers['x-request-id'] });
  expect(typeof body.message, who).toBe('string');
  expectNoVictimData(res, who);
}

/** What the victim has, as a platform admin reads it: must not change when an outsider calls. */
async function victimState(): Promise<unknown> {
  const read = async (path: string) => (await h.call('GET', `/api/v1/tenants/victim${path}`)).json();
  return Promise.all(['', '/databases', '/databases/orders/external-access', '/tokens', '/members', '/certificates', '/acme-certificates'].map(read));
}

describe('tenant isolation', () => {
  it('every documented endpoint has an entry in TABLE, and every entry an endpoint', () => {
    const keys = ops.map((o) => o.key);
    expect(keys.filter((k) => !(k in TABLE)), 'endpoints without an isolation entry: add them to TABLE').toEqual([]);
    expect(Object.keys(TABLE).filter((k) => !keys.includes(k)), 'TABLE entries without an endpoint').toEqual([]);
  });

  it('refuses unauthenticated callers with 401 (and a forged cookie too)', async () => {
    for (const op of ops) {
      const entry = TABLE[op.key]!;
      if (entry.scope === 'public') {
        expect(op.public, `${op.key} is public in TABLE but not in OpenAPI (security: [])`).toBe(true);
        continue;
      }
      expect(op.public, `${op.key} is documented as public`).toBe(false);
      const { url, body } = request(op, entry);
      for (const headers of [{}, { cookie: 'sy_session=' + 'A'.repeat(43) }, { authorization: 'Bearer sy_aaaaaaaaaa_' + 'A'.repeat(43) }]) {
        const r = await h.app.inject({ method: op.method as never, url, payload: body as never, headers });
        expect(r.statusCode, `${op.key} ${JSON.stringify(headers)}`).toBe(401);
        expect(r.json().code).toBe('SY_UNAUTHENTICATED');
      }
    }
  });

  it('gives the owner of another tenant 404 or 403 and never data (token and session)', async () => {
    for (const op of ops) {
      const entry = TABLE[op.key]!;
      if (entry.scope === 'public') continue;
      const { url, body } = request(op, entry);
      // Self-scoped calls may end the session (logout): a fresh one each time.
      const session = entry.scope === 'self' ? await login(h, 'intruder-owner@example.com', PW) : intruder;
      const answers: Array<[string, Reply]> = [
        ['token', await h.call(op.method, url, body, intruderToken)],
        ['session', await session.call(op.method, url, body)],
      ];
      for (const [how, r] of answers) {
        const who = `${op.key} as another tenant's owner (${how})`;
        if (entry.scope === 'self') expect(r.statusCode, `${who}: ${r.body}`).toBeLessThan(500);
        else if (entry.scope === 'platform') expectRefusal(r, who, [403]);
        else expectRefusal(r, who, [403, 404]);
        expectNoVictimData(r, who);
      }
    }
  });

  it("gives another tenant's owner 404 for the victim's objects addressed under their own tenant, and changes nothing", async () => {
    const before = await victimState();
    let checked = 0;
    for (const op of ops) {
      const entry = TABLE[op.key]!;
      // Only object ids make sense under another tenant's path (names are per tenant anyway).
      const ids = (op.path.match(/\{(\w+)\}/g) ?? []).map((p) => p.slice(1, -1)).filter((p) => p !== 'tenant');
      if (entry.scope !== 'tenant' || !ids.some((p) => ['tokenId', 'certificateId', 'acmeId', 'userId'].includes(p))) continue;
      const { body } = request(op, entry);
      const url = fillPath(op.path, { ...PARAMS, tenant: 'intruder' });
      for (const [how, r] of [
        ['token', await h.call(op.method, url, body, intruderToken)],
        ['session', await intruder.call(op.method, url, body)],
      ] as Array<[string, Reply]>) {
        // Without a CA configured here, ACME changes stop at SY_ACME_UNAVAILABLE before any lookup.
        expectRefusal(r, `${op.key} under the intruder's tenant with the victim's ids (${how})`, op.path.includes('/acme-certificates/') && op.method !== 'GET' ? [404, 503] : [404]);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(2 * 9);
    expect(await victimState()).toEqual(before);
  });

  it('lets a read-only member read the tenant but change nothing', async () => {
    for (const op of ops) {
      const entry = TABLE[op.key]!;
      if (entry.scope !== 'tenant' && entry.scope !== 'platform') continue;
      const { url, body } = request(op, entry);
      const r = await victimMember.call(op.method, url, body);
      const who = `${op.key} as a member`;
      if (entry.scope === 'tenant' && entry.min === 'member') {
        expect(op.method, `${op.key}: members are read-only, so only reads may need just "member"`).toBe('GET');
        expect(r.statusCode, `${who}: ${r.body}`).toBe(200);
      } else {
        expect(r.statusCode, `${who}: ${r.body}`).toBe(403);
        expect(r.json().code).toBe('SY_FORBIDDEN');
      }
    }
  });
});
