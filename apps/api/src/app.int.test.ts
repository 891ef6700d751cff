import { CONFIG_CHANNEL } from '@switchyard/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, seedTenant, type Harness } from './testing/harness.js';

let h: Harness;
let owner: string;

beforeAll(async () => {
  h = await createHarness();
  ({ token: owner } = await seedTenant(h));
});
afterAll(async () => h.close());

describe('tenants', () => {
  it('only admins create tenants; slugs are unique', async () => {
    const r = await h.call('POST', '/api/v1/tenants', { slug: 'beta', name: 'Beta' }, owner);
    expect(r.statusCode).toBe(403);
    expect(r.json()).toMatchObject({ statusCode: 403, code: 'SY_FORBIDDEN', error: 'Forbidden' });
    expect(r.json().requestId).toBe(r.headers['x-request-id']);
    const dup = await h.call('POST', '/api/v1/tenants', { slug: 'acme', name: 'Again' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('SY_TENANT_EXISTS');
  });

  it('applies the default upstream policy to new tenants', async () => {
    const r = await h.call('POST', '/api/v1/tenants', { slug: 'gamma', name: 'Gamma' });
    expect(r.statusCode).toBe(201);
    expect(r.json().upstreamPolicy).toEqual({ hostSuffixes: ['gamma.svc.cluster.local'], cidrs: [] });
  });

  it('hides other tenants behind 404', async () => {
    expect((await h.call('GET', '/api/v1/tenants/gamma', undefined, owner)).statusCode).toBe(404);
    expect((await h.call('GET', '/api/v1/tenants/acme', undefined, owner)).statusCode).toBe(200);
  });

  it('refuses missing and invalid tokens with 401', async () => {
    const none = await h.call('GET', '/api/v1/tenants/acme', undefined, null);
    expect(none.statusCode).toBe(401);
    expect(none.json().code).toBe('SY_UNAUTHENTICATED');
    const bad = await h.call('GET', '/api/v1/tenants/acme', undefined, 'sy_aaaaaaaaaa_' + 'x'.repeat(43));
    expect(bad.statusCode).toBe(401);
  });
});

describe('databases', () => {
  it('validates bodies strictly and names the field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ name: 'db1', engine: 'postgres', upstream: { host: 'a.acme.svc.cluster.local', port: '5432' } }, 'body.upstream.port'],
      [{ name: 'DB_1', engine: 'postgres', upstream: { host: 'a.acme.svc.cluster.local', port: 5432 } }, 'body.name'],
      [{ name: 'db1', engine: 'mysql', upstream: { host: 'a.acme.svc.cluster.local', port: 5432 } }, 'body.engine'],
      [{ name: 'db1', engine: 'postgres', upstream: { host: 'a.acme.svc.cluster.local', port: 5432 }, extra: 1 }, 'body.extra'],
      [{ name: 'x'.repeat(500), engine: 'postgres', upstream: { host: 'a.acme.svc.cluster.local', port: 5432 } }, 'body.name'],
      [{ engine: 'postgres', upstream: { host: 'a.acme.svc.cluster.local', port: 5432 } }, 'body.name'],
    ];
    for (const [body, field] of cases) {
      const r = await h.call('POST', '/api/v1/tenants/acme/databases', body, owner);
      expect(r.statusCode, JSON.stringify(body)).toBe(400);
      expect(r.json().code).toBe('SY_VALIDATION');
      expect(r.json().details.map((d: { field: string }) => d.field)).toContain(field);
    }
  });

  it('refuses upstreams outside the tenant policy', async () => {
    for (const host of ['pg.other.svc.cluster.local', '169.254.169.254', '10.0.0.1']) {
      const r = await h.call('POST', '/api/v1/tenants/acme/databases', { name: 'bad', engine: 'postgres', upstream: { host, port: 5432 } }, owner);
      expect(r.statusCode, host).toBe(422);
      expect(r.json().code).toBe('SY_UPSTREAM_NOT_ALLOWED');
    }
    const ctl = new URL(h.db.url);
    const r = await h.call('POST', '/api/v1/tenants/acme/databases', { name: 'ctl', engine: 'postgres', upstream: { host: ctl.hostname, port: Number(ctl.port) } }, owner);
    expect(r.statusCode).toBe(422);
    expect(r.json().message).toContain('control database');
  });

  it('creates, lists and deletes', async () => {
    const c = await h.call('POST', '/api/v1/tenants/acme/databases', { name: 'cache', engine: 'redis', upstream: { host: 'redis.acme.svc.cluster.local', port: 6379 } }, owner);
    expect(c.statusCode).toBe(201);
    expect(c.json().externalAccess).toMatchObject({ enabled: false, hostname: 'cache.acme.db.example.com', listener: 'tls', port: 16443 });
    const dup = await h.call('POST', '/api/v1/tenants/acme/databases', { name: 'cache', engine: 'redis', upstream: { host: 'redis.acme.svc.cluster.local', port: 6379 } }, owner);
    expect(dup.json().code).toBe('SY_DATABASE_EXISTS');
    const list = await h.call('GET', '/api/v1/tenants/acme/databases', undefined, owner);
    expect(list.json().items.map((d: { name: string }) => d.name)).toContain('cache');
    expect((await h.call('DELETE', '/api/v1/tenants/acme/databases/cache', undefined, owner)).statusCode).toBe(204);
    expect((await h.call('GET', '/api/v1/tenants/acme/databases/cache', undefined, owner)).statusCode).toBe(404);
  });
});

describe('external access', () => {
  it('enables a route, bumps the version and notifies only on commit', async () => {
    await h.call('POST', '/api/v1/tenants/acme/databases', { name: 'orders', engine: 'postgres', upstream: { host: '127.0.0.1', port: 5499 } }, owner);
    const listener = new pg.Client({ connectionString: h.db.url });
    await listener.connect();
    await listener.query(`LISTEN ${CONFIG_CHANNEL}`);
    const notified = new Promise<string>((resolve) => listener.once('notification', (n) => resolve(n.payload)));
    const r = await h.call('PUT', '/api/v1/tenants/acme/databases/orders/external-access', { enabled: true, tlsMode: 'passthrough' }, owner);
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body).toMatchObject({ enabled: true, hostname: 'orders.acme.db.example.com', listener: 'postgres', port: 15432, tlsMode: 'passthrough' });
    expect(body.connection.psql).toContain('host=orders.acme.db.example.com port=15432');
    expect(body.propagation).toMatchObject({ version: body.version, state: 'no-proxies' });
    expect(await notified).toBe(String(body.version));
    await listener.end();

    const again = await h.call('PUT', '/api/v1/tenants/acme/databases/orders/external-access', { enabled: true }, owner);
    expect(again.json().version).toBe(body.version);

    const off = await h.call('PUT', '/api/v1/tenants/acme/databases/orders/external-access', { enabled: false }, owner);
    expect(off.json()).toMatchObject({ enabled: false, version: body.version + 1 });

    const audit = await h.app.prisma.auditEvent.findMany({ where: { targetType: 'route' }, orderBy: { id: 'asc' } });
    expect(audit.map((a) => a.action)).toEqual(['route.enable', 'route.disable']);
  });

  it('refuses terminate without a certificate and unknown listeners', async () => {
    const t = await h.call('PUT', '/api/v1/tenants/acme/databases/orders/external-access', { enabled: true, tlsMode: 'terminate' }, owner);
    expect(t.statusCode).toBe(422);
    expect(t.json().code).toBe('SY_CERTIFICATE_REQUIRED');
    const l = await h.call('PUT', '/api/v1/tenants/acme/databases/orders/external-access', { enabled: true, listener: 'nope' }, owner);
    expect(l.statusCode).toBe(400);
    expect(l.json().details[0].field).toBe('body.listener');
    const c = await h.call('PUT', '/api/v1/tenants/acme/databases/orders/external-access', { enabled: true, sourceCidrs: ['10.0.0.1/8'] }, owner);
    expect(c.statusCode).toBe(400);
    expect(c.json().details[0].field).toBe('body.sourceCidrs.0');
  });

  it('keeps the audit table append-only', async () => {
    await expect(h.app.prisma.$executeRaw`UPDATE audit_events SET action = 'x'`).rejects.toThrow(/append-only/);
    await expect(h.app.prisma.$executeRaw`DELETE FROM audit_events`).rejects.toThrow(/append-only/);
  });
});

describe('proxies', () => {
  it('lists live proxies with the version each applied, and reports propagation from them', async () => {
    const current = (await h.call('GET', '/api/v1/proxies')).json().currentVersion as number;
    await h.app.prisma.proxyInstance.createMany({
      data: [
        { id: 'p-up', hostname: 'a', pid: 1, version: 't', appliedVersion: current, startedAt: new Date(), heartbeatAt: new Date() },
        { id: 'p-behind', hostname: 'b', pid: 2, version: 't', appliedVersion: current - 1, startedAt: new Date(), heartbeatAt: new Date() },
        { id: 'p-dead', hostname: 'c', pid: 3, version: 't', appliedVersion: 0, startedAt: new Date(0), heartbeatAt: new Date(0) },
      ],
    });
    const r = await h.call('GET', '/api/v1/proxies');
    expect(r.statusCode).toBe(200);
    // Platform-wide (host names, every tenant's routes and connections): not for tenants,
    // who see propagation on their own changes instead.
    const tenantView = await h.call('GET', '/api/v1/proxies', undefined, owner);
    expect(tenantView.statusCode).toBe(403);
    expect(tenantView.json().code).toBe('SY_FORBIDDEN');
    expect(tenantView.body).not.toContain('p-up');
    expect(r.json().items.map((p: { id: string; upToDate: boolean }) => [p.id, p.upToDate])).toEqual([
      ['p-behind', false],
      ['p-up', true],
    ]);
    const wait = await h.call('PUT', '/api/v1/tenants/acme/databases/orders/external-access?wait=true&timeoutMs=300', { enabled: true }, owner);
    expect(wait.json().propagation).toMatchObject({ state: 'timeout' });
    expect(wait.json().propagation.proxies.filter((p: { applied: boolean }) => !p.applied).map((p: { id: string }) => p.id)).toEqual(['p-behind', 'p-up']);
    await h.app.prisma.proxyInstance.deleteMany({});
    expect((await h.call('GET', '/api/v1/proxies', undefined, null)).statusCode).toBe(401);
  });
});

describe('api shape', () => {
  it('serves OpenAPI at /docs/json', async () => {
    const r = await h.app.inject({ method: 'GET', url: '/docs/json' });
    expect(r.statusCode).toBe(200);
    const doc = r.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/api/v1/tenants/{tenant}/databases/{database}/external-access');
  });

  it('refuses blank names of tenants, users and tokens on the field, and keeps names with spaces inside', async () => {
    const blank = ' \t ';
    const refused = [
      await h.call('POST', '/api/v1/tenants', { slug: 'blank', name: blank }),
      await h.call('PATCH', '/api/v1/tenants/acme', { name: blank }),
      await h.call('POST', '/api/v1/users', { email: 'blank@example.com', name: blank }),
      await h.call('POST', '/api/v1/tenants/acme/tokens', { name: blank, role: 'member' }, owner),
      await h.call('POST', '/api/v1/platform/tokens', { name: blank }),
    ];
    for (const r of refused) {
      expect(r.statusCode).toBe(400);
      expect(r.json()).toMatchObject({ code: 'SY_VALIDATION', details: [{ field: 'body.name', message: 'must not be blank' }] });
    }
    expect((await h.call('GET', '/api/v1/tenants/acme')).json().name).toBe('acme Inc');
    const ok = await h.call('POST', '/api/v1/tenants/acme/tokens', { name: ' ci pipeline ', role: 'member' }, owner);
    expect(ok.statusCode).toBe(201);
  });

  it('answers unknown routes and bad JSON in the error shape', async () => {
    const nf = await h.call('GET', '/api/v1/nope');
    expect(nf.json()).toMatchObject({ statusCode: 404, code: 'SY_NOT_FOUND' });
    const bad = await h.app.inject({
      method: 'POST',
      url: '/api/v1/tenants',
      headers: { authorization: `Bearer ${'test-admin-token-0123456789abcdef0123456789'}`, 'content-type': 'application/json' },
      payload: '{"slug": ',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('SY_BAD_REQUEST');
  });

  it('answers a body that is not JSON with 415, text/plain included', async () => {
    // text/plain is what a cross-site form or a `fetch` without preflight can send; it used to be
    // parsed as a string and answered "body must be object", which named no usable fix.
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded']) {
      const r = await h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        headers: { 'content-type': type },
        payload: '{"email":"ada@example.com","password":"correct horse battery staple"}',
      });
      expect(r.statusCode, type).toBe(415);
      expect(r.json(), type).toMatchObject({ code: 'SY_UNSUPPORTED_MEDIA_TYPE', message: `Send JSON with Content-Type: application/json (got ${JSON.stringify(type)})` });
    }
  });

  it('accepts an empty JSON body where the route takes none, and names the body where it takes one', async () => {
    // Clients (and fetch wrappers) send Content-Type: application/json on every call; a
    // DELETE or a body-less POST with it and no body used to get 400 "Body cannot be empty".
    const json = { authorization: `Bearer ${'test-admin-token-0123456789abcdef0123456789'}`, 'content-type': 'application/json' };
    const token = (await h.call('POST', '/api/v1/tenants/acme/tokens', { name: 'to revoke', role: 'member' }, owner)).json();
    const revoke = await h.app.inject({ method: 'DELETE', url: `/api/v1/tenants/acme/tokens/${token.id}`, headers: json, payload: '' });
    expect(revoke.statusCode, revoke.body).toBe(204);
    const user = await h.call('POST', '/api/v1/users', { email: 'empty-body@example.com', name: 'Empty', password: 'correct horse battery staple' });
    const login = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'empty-body@example.com', password: 'correct horse battery staple' } });
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const logout = await h.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { cookie, 'x-csrf-token': login.json().csrfToken, 'content-type': 'application/json' }, payload: '' });
    expect(logout.statusCode, logout.body).toBe(204);
    const del = await h.app.inject({ method: 'DELETE', url: `/api/v1/users/${user.json().id}`, headers: json, payload: '' });
    expect(del.statusCode, del.body).toBe(204);
    // A route that takes a body still needs one, and says so about the body.
    const create = await h.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: json, payload: '' });
    expect(create.statusCode).toBe(400);
    expect(create.json()).toMatchObject({ code: 'SY_VALIDATION', details: [{ field: 'body' }] });
  });

  it('answers JSON in another charset than UTF-8 with 415 naming the charset', async () => {
    const auth = { authorization: `Bearer ${'test-admin-token-0123456789abcdef0123456789'}` };
    const body = Buffer.from(JSON.stringify({ slug: 'utf16', name: 'Utf16' }), 'utf16le');
    for (const charset of ['utf-16', 'UTF-16LE', 'iso-8859-1']) {
      const r = await h.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: { ...auth, 'content-type': `application/json; charset=${charset}` }, payload: body });
      expect(r.statusCode, charset).toBe(415);
      expect(r.json(), charset).toMatchObject({ code: 'SY_UNSUPPORTED_MEDIA_TYPE' });
      expect(r.json().message, charset).toContain(`charset=${charset}`);
    }
    for (const charset of ['utf-8', 'UTF-8', '"utf-8"']) {
      const r = await h.app.inject({ method: 'POST', url: '/api/v1/tenants', headers: { ...auth, 'content-type': `application/json; charset=${charset}` }, payload: { slug: `utf8-${charset.length}${charset[0] === 'U' ? 'u' : 'l'}`, name: 'Utf8' } });
      expect(r.statusCode, `${charset}: ${r.body}`).toBe(201);
    }
  });
});
