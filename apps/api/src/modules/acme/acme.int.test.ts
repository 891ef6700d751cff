/**
 * The ACME API against a real PostgreSQL, without a CA (the worker is stopped): what a
 * request records and answers, what the external-access view says until issuance, and the
 * refusals made before anything reaches the CA — rate limits and the DNS check.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHarness, seedTenant, type Harness } from '../../testing/harness.js';
import { AcmeService, systemActor } from './acme.service.js';

let h: Harness;
let token: string;
const HOST = 'orders.acme.db.example.com';

const path = (db: string, tenant = 'acme') => `/api/v1/tenants/${tenant}/databases/${db}/external-access`;
const mkdb = async (name: string, tenant = 'acme', tok = token) => {
  const r = await h.call('POST', `/api/v1/tenants/${tenant}/databases`, { name, engine: 'postgres', upstream: { host: `pg.${tenant}.svc.cluster.local`, port: 5432 } }, tok);
  expect(r.statusCode, r.body).toBe(201);
};
/** A `PUT …/external-access` that must succeed; its response. */
const access = async (db: string, body: Record<string, unknown>, tenant = 'acme', tok = token) => {
  const r = await h.call('PUT', path(db, tenant), body, tok);
  expect(r.statusCode, r.body).toBe(200);
  return r.json();
};

beforeAll(async () => {
  h = await createHarness(
    {
      SWITCHYARD_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      ACME_DIRECTORY_URL: 'https://127.0.0.1:9/directory',
      ACME_LIMIT_FAILED_PER_HOUR: '2',
    },
    // No CA here: the worker must not pick the rows up.
    async (app) => app.services.acmeWorker?.stop(),
  );
  ({ token } = await seedTenant(h));
  for (const [name, tlsMode] of [
    ['orders', 'terminate'],
    ['ledger', 'terminate'],
    ['billing', 'terminate'],
    ['plain', 'passthrough'],
  ] as const) {
    await mkdb(name);
    await access(name, { enabled: true, tlsMode });
  }
});
afterAll(async () => h?.close());

/** switchyard_api_acme_orders_total of this API (its metrics port serves the same registry). */
const orders = async (type: string, outcome: string) =>
  (await h.app.metrics.acmeOrders.get()).values.find((v) => v.labels.type === type && v.labels.outcome === outcome)?.value ?? 0;

describe('ACME certificates API', () => {
  it('/api/v1/meta says ACME can be requested (directory and keyring configured)', async () => {
    const r = await h.call('GET', '/api/v1/meta', undefined, null);
    expect(r.statusCode).toBe(200);
    expect(r.json().acme).toBe(true);
  });

  it('records a request as pending, says the route keeps its platform-CA certificate, and stops on delete', async () => {
    const r = await h.call('POST', '/api/v1/tenants/acme/acme-certificates', { hostname: HOST }, token);
    expect(r.statusCode, r.body).toBe(202);
    const body = r.json();
    expect(body).toMatchObject({ hostname: HOST, challenge: 'tls-alpn-01', state: 'pending', problem: null, attempts: 0, certificate: null, renewAt: null, servedWith: { kind: 'issued' } });
    expect(Date.parse(body.nextAttemptAt)).toBeLessThanOrEqual(Date.now());
    const list = (await h.call('GET', '/api/v1/tenants/acme/acme-certificates', undefined, token)).json();
    expect(list.items.map((i: { id: string }) => i.id)).toEqual([body.id]);
    const access = (await h.call('GET', '/api/v1/tenants/acme/databases/orders/external-access', undefined, token)).json();
    expect(access.certificate.kind).toBe('issued');
    expect(access.acme).toEqual({ id: body.id, state: 'pending', challenge: 'tls-alpn-01', renewAt: null, problem: null });
    expect(access.connection.psql).toContain('sslrootcert=switchyard-ca.pem');
    const audit = (await h.call('GET', '/api/v1/tenants/acme/audit-events?action=acme.request', undefined, token)).json();
    expect(audit.items[0]).toMatchObject({ targetId: body.id });
    expect((await h.call('DELETE', `/api/v1/tenants/acme/acme-certificates/${body.id}`, undefined, token)).statusCode).toBe(204);
    expect((await h.call('GET', `/api/v1/tenants/acme/acme-certificates/${body.id}`, undefined, token)).json().code).toBe('SY_ACME_NOT_FOUND');
  });

  it('refuses before the CA would: too many failed validations this hour answer 429 with Retry-After', async () => {
    const host = 'ledger.acme.db.example.com';
    await h.app.prisma.acmeEvent.createMany({ data: [0, 1].map(() => ({ hostname: host, registeredDomain: 'example.com', kind: 'failed_validation' })) });
    const r = await h.call('POST', '/api/v1/tenants/acme/acme-certificates', { hostname: host }, token);
    expect(r.statusCode).toBe(429);
    expect(r.json()).toMatchObject({ code: 'SY_ACME_RATE_LIMITED', details: [{ field: 'body.hostname', limit: 'failed_validations' }] });
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(3000);
    expect(r.json().message).toContain('failed validation 2 times in the last hour (limit 2)');
    // The dashboard shows the detail beside the host name field: it says when to retry too.
    expect(r.json().details[0].message).toMatch(/^.*failed validation 2 times in the last hour \(limit 2\); retry after \d{4}-\d\d-\d\dT/);
  });

  it('counts new certificates per registered domain and duplicates per name; a renewal is exempt from the domain limit only', async () => {
    const host = 'billing.acme.db.example.com';
    const prisma = h.app.prisma;
    // 50 new certificates (the default limit) under example.com this week, for other names.
    const others = Array.from({ length: 50 }, (_, i) => ({ hostname: `n${i}.other.example.com`, registeredDomain: 'example.com', kind: 'issued' }));
    await prisma.acmeEvent.createMany({ data: others });
    const full = await h.call('POST', '/api/v1/tenants/acme/acme-certificates', { hostname: host }, token);
    expect(full.statusCode).toBe(429);
    expect(full.json()).toMatchObject({ code: 'SY_ACME_RATE_LIMITED', details: [{ limit: 'certs_per_domain' }] });
    expect(full.json().message).toContain('50 certificates were issued under example.com in the last 7 days (limit 50)');
    expect(Number(full.headers['retry-after'])).toBeGreaterThan(6 * 86_400);
    // Renewals do not count towards it.
    await prisma.acmeEvent.updateMany({ where: { hostname: { endsWith: '.other.example.com' } }, data: { reason: 'renewal' } });
    const created = await h.call('POST', '/api/v1/tenants/acme/acme-certificates', { hostname: host }, token);
    expect(created.statusCode, created.body).toBe(202);
    // Once the name has a certificate, renewing it is not held back by a full domain week…
    await prisma.acmeEvent.updateMany({ where: { hostname: { endsWith: '.other.example.com' } }, data: { reason: null } });
    const route = await prisma.route.findUniqueOrThrow({ where: { hostname: host } });
    await prisma.acmeCertificate.update({ where: { id: created.json().id }, data: { certificateId: route.certificateId, state: 'issued' } });
    const renew = await h.call('POST', `/api/v1/tenants/acme/acme-certificates/${created.json().id}/renew`, undefined, token);
    expect(renew.statusCode, renew.body).toBe(202);
    // …but it is by the duplicates limit (5 certificates for the same name per week).
    await prisma.acmeEvent.createMany({ data: Array.from({ length: 5 }, () => ({ hostname: host, registeredDomain: 'example.com', kind: 'issued', reason: 'renewal' })) });
    const dup = await h.call('POST', `/api/v1/tenants/acme/acme-certificates/${created.json().id}/renew`, undefined, token);
    expect(dup.statusCode).toBe(429);
    expect(dup.json()).toMatchObject({ code: 'SY_ACME_RATE_LIMITED', details: [{ limit: 'duplicates' }] });
    // `renew` has no body: the refusal names no request field (not a `body.hostname` it never had).
    expect(dup.json().details[0]).not.toHaveProperty('field');
    expect(Number(dup.headers['retry-after'])).toBeGreaterThan(0);
    await prisma.acmeEvent.deleteMany({ where: { registeredDomain: 'example.com', kind: 'issued' } });
  });

  it('orders only routes in terminate mode', async () => {
    const r = await h.call('POST', '/api/v1/tenants/acme/acme-certificates', { hostname: 'plain.acme.db.example.com' }, token);
    expect(r.statusCode).toBe(422);
    expect(r.json()).toMatchObject({ code: 'SY_ACME_ROUTE_REQUIRED', details: [{ field: 'body.hostname' }] });
    expect(r.json().message).toContain('switch it to terminate first');
  });

  describe('PUT …/external-access with `acme`: terminate mode and the ACME request in one call', () => {
    it('enables terminate mode and records a pending request in the same transaction; the platform-CA certificate serves until issuance', async () => {
      await mkdb('shop');
      const host = 'shop.acme.db.example.com';
      const r = await h.call('PUT', path('shop'), { enabled: true, tlsMode: 'terminate', acme: { challenge: 'http-01' } }, token);
      expect(r.statusCode, r.body).toBe(200);
      const body = r.json();
      expect(body).toMatchObject({ enabled: true, tlsMode: 'terminate', hostname: host, certificate: { kind: 'issued', auto: true }, acme: { state: 'pending', challenge: 'http-01', renewAt: null, problem: null } });
      expect(body.connection.psql).toContain('sslrootcert=switchyard-ca.pem');
      const row = await h.app.prisma.acmeCertificate.findUniqueOrThrow({ where: { hostname: host } });
      expect(row).toMatchObject({ id: body.acme.id, state: 'pending', challengeType: 'http-01' });
      expect(row.nextAttemptAt!.getTime()).toBeLessThanOrEqual(Date.now());
      // Both audit events: the route's and the request's.
      const audit = (await h.call('GET', '/api/v1/tenants/acme/audit-events?action=acme.request', undefined, token)).json();
      expect(audit.items.filter((e: { targetId: string }) => e.targetId === body.acme.id)).toHaveLength(1);
      const enable = (await h.call('GET', '/api/v1/tenants/acme/audit-events?action=route.enable', undefined, token)).json();
      expect(enable.items.some((e: { changes: { database?: { to: string } } }) => e.changes.database?.to === 'shop')).toBe(true);
      // The same PUT again changes nothing: same request, no second audit event, no new version.
      const again = await h.call('PUT', path('shop'), { enabled: true, tlsMode: 'terminate', acme: { challenge: 'http-01' } }, token);
      expect(again.statusCode, again.body).toBe(200);
      expect(again.json()).toMatchObject({ acme: { id: body.acme.id }, version: body.version });
      expect((await h.call('GET', '/api/v1/tenants/acme/audit-events?action=acme.request', undefined, token)).json().items.filter((e: { targetId: string }) => e.targetId === body.acme.id)).toHaveLength(1);
      // Another challenge for the same name is refused, naming the field.
      const other = await h.call('PUT', path('shop'), { enabled: true, acme: { challenge: 'tls-alpn-01' } }, token);
      expect(other.statusCode).toBe(409);
      expect(other.json()).toMatchObject({ code: 'SY_ACME_EXISTS', details: [{ field: 'body.acme' }] });
      expect(other.json().message).toContain('validated with http-01');
    });

    it('refuses a non-terminate mode with SY_ACME_ROUTE_REQUIRED on body.acme, and writes nothing', async () => {
      await mkdb('cart');
      const r = await h.call('PUT', path('cart'), { enabled: true, tlsMode: 'passthrough', acme: {} }, token);
      expect(r.statusCode).toBe(422);
      expect(r.json()).toMatchObject({ code: 'SY_ACME_ROUTE_REQUIRED', details: [{ field: 'body.acme', message: 'needs a terminate-mode route' }] });
      expect(r.json().message).toContain('set "tlsMode": "terminate"');
      expect(await h.app.prisma.route.findUnique({ where: { hostname: 'cart.acme.db.example.com' } })).toBeNull();
      expect(await h.app.prisma.acmeCertificate.findUnique({ where: { hostname: 'cart.acme.db.example.com' } })).toBeNull();
      // …and with a certificate of the tenant's own choosing.
      const both = await h.call('PUT', path('cart'), { enabled: true, tlsMode: 'terminate', certificateId: '7d1f8a8e-8a53-4e4b-9a3e-2f0c6f1c9b11', acme: {} }, token);
      expect(both.statusCode).toBe(400);
      expect(both.json()).toMatchObject({ code: 'SY_VALIDATION', details: [{ field: 'body.acme' }] });
    });

    it('refuses a name of another tenant: its default name by the host name policy, a shared custom domain by the ACME check', async () => {
      const { token: otherToken } = await seedTenant(h, 'rival');
      await mkdb('vault', 'rival', otherToken);
      expect((await h.call('PUT', path('vault', 'rival'), { enabled: true, tlsMode: 'terminate' }, otherToken)).statusCode).toBe(200);
      await mkdb('steal');
      const r = await h.call('PUT', path('steal'), { enabled: true, tlsMode: 'terminate', hostname: 'vault.rival.db.example.com', acme: {} }, token);
      expect(r.statusCode).toBe(422);
      expect(r.json()).toMatchObject({ code: 'SY_HOSTNAME_NOT_ALLOWED', details: [{ field: 'body.hostname' }] });
      // Both tenants allowed the same custom domain; the rival routes a name under it first.
      await h.app.prisma.tenant.updateMany({ where: { slug: { in: ['acme', 'rival'] } }, data: { allowedCustomDomains: ['shared.example.net'] } });
      expect((await h.call('PUT', path('vault', 'rival'), { enabled: true, hostname: 'pg.shared.example.net' }, otherToken)).statusCode).toBe(200);
      const taken = await h.call('PUT', path('steal'), { enabled: true, tlsMode: 'terminate', hostname: 'pg.shared.example.net', acme: {} }, token);
      expect(taken.statusCode).toBe(422);
      expect(taken.json()).toMatchObject({ code: 'SY_ACME_ROUTE_REQUIRED', details: [{ field: 'body.acme', message: 'is not a route of this tenant' }] });
      expect(await h.app.prisma.acmeCertificate.findUnique({ where: { hostname: 'pg.shared.example.net' } })).toBeNull();
      expect(await h.app.prisma.route.count({ where: { database: { name: 'steal' } } })).toBe(0);
    });

    it('counts against the same rate limits as the POST, with Retry-After and the field named', async () => {
      await mkdb('quota');
      const host = 'quota.acme.db.example.com';
      await h.app.prisma.acmeEvent.createMany({ data: [0, 1].map(() => ({ hostname: host, registeredDomain: 'example.com', kind: 'failed_validation' })) });
      const r = await h.call('PUT', path('quota'), { enabled: true, tlsMode: 'terminate', acme: {} }, token);
      expect(r.statusCode).toBe(429);
      expect(r.json()).toMatchObject({ code: 'SY_ACME_RATE_LIMITED', details: [{ field: 'body.acme', limit: 'failed_validations' }] });
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(3000);
      expect(await h.app.prisma.route.findUnique({ where: { hostname: host } })).toBeNull();
    });
  });

  it('re-checks renewalInfo when due (RFC 9773 §4.3): moves the renewal into a changed window, polls again after Retry-After, stops when none is offered', async () => {
    const tenant = await h.app.prisma.tenant.findFirstOrThrow({ where: { slug: 'acme' } });
    expect((await h.call('POST', '/api/v1/tenants/acme/databases', { name: 'ari', engine: 'postgres', upstream: { host: 'pg.acme.svc.cluster.local', port: 5432 } }, token)).statusCode).toBe(201);
    const route = (await h.call('PUT', '/api/v1/tenants/acme/databases/ari/external-access', { enabled: true, tlsMode: 'terminate' }, token)).json();
    const now = new Date();
    const renewAt = new Date(now.getTime() + 30 * 86_400_000);
    const row = await h.app.prisma.acmeCertificate.create({
      data: { id: randomUUID(), tenantId: tenant.id, hostname: 'ari.acme.db.example.com', challengeType: 'tls-alpn-01', state: 'issued', certificateId: route.certificate.id, renewAt, nextAttemptAt: renewAt, ariCheckAt: new Date(now.getTime() - 1000) },
    });
    // A CA that now suggests an earlier window (as before a revocation), with Retry-After: 2 h.
    let answer: { offered: boolean; window: { start: Date; end: Date } | null; retryAfterMs: number | null } = {
      offered: true,
      window: { start: new Date(now.getTime() + 86_400_000), end: new Date(now.getTime() + 2 * 86_400_000) },
      retryAfterMs: 2 * 3_600_000,
    };
    const svc = new AcmeService({
      prisma: h.app.prisma,
      tenants: { resolve: async () => tenant },
      certificates: h.app.services.certificates,
      propagation: h.app.services.propagation,
      propagationTimeoutMs: 1000,
      keyring: h.config.keyring,
      config: h.config.acme!,
      ca: { renewalInfo: async () => answer } as never,
      log: pino({ level: 'silent' }),
    });
    expect(await svc.recheckRenewalInfo(now)).toBe(1);
    const moved = await h.app.prisma.acmeCertificate.findUniqueOrThrow({ where: { id: row.id } });
    expect(moved.renewAt!.getTime()).toBeGreaterThanOrEqual(answer.window!.start.getTime());
    expect(moved.renewAt!.getTime()).toBeLessThanOrEqual(answer.window!.end.getTime());
    expect(moved.nextAttemptAt).toEqual(moved.renewAt);
    expect(moved.ariCheckAt!.getTime()).toBe(now.getTime() + 2 * 3_600_000);
    const audit = (await h.call('GET', '/api/v1/tenants/acme/audit-events?action=acme.renewal-window', undefined, token)).json();
    expect(audit.items[0]).toMatchObject({ targetId: row.id, changes: { renewAt: { from: renewAt.toISOString(), to: moved.renewAt!.toISOString() } } });
    // Not due again before its Retry-After; once due, a directory without renewalInfo ends the polling.
    answer = { ...answer, retryAfterMs: 60_000 };
    expect(await svc.recheckRenewalInfo(new Date(now.getTime() + 3_600_000))).toBe(0);
    expect((await h.app.prisma.acmeCertificate.findUniqueOrThrow({ where: { id: row.id } })).ariCheckAt).toEqual(moved.ariCheckAt);
    answer = { offered: false, window: null, retryAfterMs: null };
    expect(await svc.recheckRenewalInfo(new Date(now.getTime() + 3 * 3_600_000))).toBe(0);
    const stopped = await h.app.prisma.acmeCertificate.findUniqueOrThrow({ where: { id: row.id } });
    expect(stopped).toMatchObject({ ariCheckAt: null, renewAt: moved.renewAt });
  });

  it('with public addresses configured, refuses a name that resolves elsewhere and names what it resolved to', async () => {
    const tenant = await h.app.prisma.tenant.findFirstOrThrow({ where: { slug: 'acme' } });
    const make = (answer: string[]) =>
      new AcmeService({
        prisma: h.app.prisma,
        tenants: { resolve: async () => tenant },
        certificates: h.app.services.certificates,
        propagation: h.app.services.propagation,
        propagationTimeoutMs: 1000,
        keyring: h.config.keyring,
        config: { ...h.config.acme!, publicAddresses: ['203.0.113.7', '2001:db8::7'] },
        ca: {} as never,
        log: pino({ level: 'silent' }),
        resolve: async () => answer,
      });
    const actor = systemActor('test');
    await expect(make(['198.51.100.1']).request(actor, 'acme', { hostname: HOST })).rejects.toMatchObject({
      code: 'SY_ACME_DNS_MISMATCH',
      message: expect.stringContaining('resolves to 198.51.100.1, not to the platform'),
    });
    const ok = await make(['2001:0db8:0:0:0:0:0:7']).request(actor, 'acme', { hostname: HOST });
    expect(ok.state).toBe('pending');
  });
});

describe('renew now', () => {
  it('is refused while an order is pending (already due) or validating (running), with nothing audited; a failed one is retried', async () => {
    await mkdb('renewnow');
    const on = await access('renewnow', { enabled: true, tlsMode: 'terminate', acme: {} });
    const renew = () => h.call('POST', `/api/v1/tenants/acme/acme-certificates/${on.acme.id}/renew`, undefined, token);
    for (const state of ['pending', 'validating'] as const) {
      await h.app.prisma.acmeCertificate.update({ where: { id: on.acme.id }, data: { state } });
      const r = await renew();
      expect(r.statusCode, r.body).toBe(409);
      expect(r.json()).toMatchObject({ code: 'SY_CONFLICT', details: [{ state }] });
      expect(r.json().message).toContain(`is ${state}`);
    }
    expect(await h.app.prisma.auditEvent.count({ where: { action: 'acme.renew-requested', targetId: on.acme.id } })).toBe(0);
    await h.app.prisma.acmeCertificate.update({ where: { id: on.acme.id }, data: { state: 'failed', nextAttemptAt: new Date(Date.now() + 3_600_000) } });
    const retried = await renew();
    expect(retried.statusCode, retried.body).toBe(202);
    expect(retried.json()).toMatchObject({ state: 'pending' });
    expect(await h.app.prisma.auditEvent.count({ where: { action: 'acme.renew-requested', targetId: on.acme.id } })).toBe(1);
  });
});

describe('deleting the certificate an ACME request renews', () => {
  it('is refused while the request lives (it would be left issued without a certificate), and allowed once it is stopped', async () => {
    await mkdb('renewed');
    const on = await access('renewed', { enabled: true, tlsMode: 'terminate', acme: {} });
    const host = on.hostname as string;
    // Issued earlier; the route was then given another certificate (here: its platform-CA one).
    const tenant = await h.app.prisma.tenant.findFirstOrThrow({ where: { slug: 'acme' } });
    const data = await h.app.services.certificates.mintForRoute(host);
    const cert = await h.app.prisma.certificate.create({ data: { ...data, tenantId: tenant.id, kind: 'acme', auto: false } });
    await h.app.prisma.acmeCertificate.update({ where: { id: on.acme.id }, data: { state: 'issued', certificateId: cert.id, renewAt: new Date(Date.now() + 86_400_000) } });
    const del = await h.call('DELETE', `/api/v1/tenants/acme/certificates/${cert.id}`, undefined, token);
    expect(del.statusCode).toBe(409);
    expect(del.json()).toMatchObject({ code: 'SY_CERTIFICATE_IN_USE', details: [{ acmeHostnames: [host] }] });
    expect(del.json().message).toContain(`renewed by the ACME certificate of ${host}`);
    expect(await h.app.prisma.acmeCertificate.findUniqueOrThrow({ where: { id: on.acme.id } })).toMatchObject({ state: 'issued', certificateId: cert.id });
    expect((await h.call('DELETE', `/api/v1/tenants/acme/acme-certificates/${on.acme.id}`, undefined, token)).statusCode).toBe(204);
    expect((await h.call('DELETE', `/api/v1/tenants/acme/certificates/${cert.id}`, undefined, token)).statusCode).toBe(204);
  });
});

describe('the CA is down', () => {
  it('records the order as failed with switchyard:caUnreachable and the cause, not an internal TypeError, and backs off', async () => {
    // ACME_DIRECTORY_URL is https://127.0.0.1:9/directory: nothing listens there.
    await mkdb('cadown');
    const on = await access('cadown', { enabled: true, tlsMode: 'terminate', acme: {} });
    const row = await h.app.prisma.acmeCertificate.findUniqueOrThrow({ where: { id: on.acme.id }, include: { certificate: true } });
    const failed = await orders('issuance', 'failed');
    await h.app.services.acme.process(row);
    expect(await orders('issuance', 'failed')).toBe(failed + 1);
    const r = (await h.call('GET', `/api/v1/tenants/acme/acme-certificates/${row.id}`, undefined, token)).json();
    expect(r).toMatchObject({ state: 'failed', attempts: 1, problem: { type: 'switchyard:caUnreachable', renewal: false } });
    expect(r.problem.detail).toContain('the ACME CA could not be reached (https://127.0.0.1:9/directory)');
    expect(r.problem.detail).toContain('ECONNREFUSED');
    expect(r.problem.detail).not.toContain('Cannot read properties');
    expect(Date.parse(r.nextAttemptAt)).toBeGreaterThan(Date.now());
    const [fail] = await h.app.prisma.auditEvent.findMany({ where: { action: 'acme.fail', targetId: row.id } });
    expect(JSON.stringify(fail!.changes)).toContain('switchyard:caUnreachable');
  });
});

describe('an ACME certificate follows its route', () => {
  // Where the renamed route goes.
  beforeAll(() => h.app.prisma.tenant.update({ where: { slug: 'acme' }, data: { allowedCustomDomains: { push: 'follow.example.net' } } }));
  const deleted = (id: string) => h.app.prisma.auditEvent.findMany({ where: { action: 'acme.delete', targetId: id } });
  const challenge = (acmeCertificateId: string, hostname: string) =>
    h.app.prisma.acmeChallenge.create({ data: { id: randomUUID(), acmeCertificateId, hostname, type: 'http-01', token: 'tok', keyAuthorization: 'tok.thumb' } });

  it('goes when external access is disabled (the certificate stays attached), is refused while disabled, and is ordered anew on re-enabling', async () => {
    const host = 'relay.acme.db.example.com';
    await mkdb('relay');
    const first = await access('relay', { enabled: true, tlsMode: 'terminate', acme: {} });
    // As if issued and renewing: the row points at the route's certificate, a challenge is out.
    await h.app.prisma.acmeCertificate.update({ where: { id: first.acme.id }, data: { state: 'issued', certificateId: first.certificate.id } });
    await challenge(first.acme.id, host);

    const off = await access('relay', { enabled: false });
    expect(off).toMatchObject({ enabled: false, acme: null, certificate: { id: first.certificate.id } });
    expect(await h.app.prisma.acmeCertificate.findUnique({ where: { hostname: host } })).toBeNull();
    expect(await h.app.prisma.acmeChallenge.count({ where: { hostname: host } })).toBe(0);
    expect(await h.app.prisma.certificate.count({ where: { id: first.certificate.id } })).toBe(1);
    expect(await deleted(first.acme.id)).toMatchObject([
      { actorType: 'token', changes: { hostname: { from: host, to: null }, state: { from: 'issued', to: null }, reason: { to: 'route-disabled' }, keptCertificate: { to: first.certificate.id } } },
    ]);

    // While disabled, neither the POST nor the PUT orders; both name the field.
    const post = await h.call('POST', '/api/v1/tenants/acme/acme-certificates', { hostname: host }, token);
    expect(post.statusCode).toBe(422);
    expect(post.json()).toMatchObject({ code: 'SY_ACME_ROUTE_REQUIRED', details: [{ field: 'body.hostname', message: 'needs an enabled route' }] });
    expect(post.json().message).toContain('enable its external access first');
    const put = await h.call('PUT', path('relay'), { enabled: false, acme: {} }, token);
    expect(put.statusCode).toBe(422);
    expect(put.json()).toMatchObject({ code: 'SY_ACME_ROUTE_REQUIRED', details: [{ field: 'body.acme', message: 'needs an enabled route' }] });
    expect(put.json().message).toContain('set "enabled": true');

    // Re-enabled with ACME for the same name: a new request (no SY_ACME_EXISTS).
    const again = await access('relay', { enabled: true, acme: {} });
    expect(again.acme).toMatchObject({ state: 'pending' });
    expect(again.acme.id).not.toBe(first.acme.id);
  });

  it('takes up the ACME certificate the route still holds on re-enabling instead of ordering a duplicate, and orders anew once that one is due', async () => {
    const host = 'toggle.acme.db.example.com';
    await mkdb('toggle');
    const made = await h.call('POST', '/api/v1/tenants/acme/certificates', { name: 'toggle', type: 'self-signed', hostnames: [host] }, token);
    expect(made.statusCode, made.body).toBe(201);
    const certId = made.json().id as string;
    // As the worker leaves an issued certificate: kind `acme`, attached to the route.
    await h.app.prisma.certificate.update({ where: { id: certId }, data: { kind: 'acme' } });
    await access('toggle', { enabled: true, tlsMode: 'terminate', certificateId: certId });
    const cert = await h.app.prisma.certificate.findUniqueOrThrow({ where: { id: certId } });
    const renewAt = new Date(cert.notAfter.getTime() - Math.floor((cert.notAfter.getTime() - cert.notBefore.getTime()) / 3)).toISOString();

    for (let round = 0; round < 3; round++) {
      const off = await access('toggle', { enabled: false });
      expect(off).toMatchObject({ acme: null, certificate: { id: certId } });
      const on = await access('toggle', { enabled: true, acme: {} });
      expect(on).toMatchObject({ enabled: true, certificate: { id: certId }, acme: { state: 'issued', renewAt } });
      const row = await h.app.prisma.acmeCertificate.findUniqueOrThrow({ where: { hostname: host } });
      expect(row).toMatchObject({ certificateId: certId, state: 'issued', nextAttemptAt: new Date(renewAt), orderUrl: null });
      expect(row.ariCheckAt).not.toBeNull();
      const [audit] = await h.app.prisma.auditEvent.findMany({ where: { action: 'acme.request', targetId: row.id } });
      expect(audit).toMatchObject({ changes: { hostname: { to: host }, reusedCertificate: { from: null, to: certId } } });
    }
    // Due for renewal (a third of its lifetime left): re-enabling orders, as before.
    await h.app.prisma.certificate.update({ where: { id: certId }, data: { notBefore: new Date(Date.now() - 80 * 86_400_000), notAfter: new Date(Date.now() + 10 * 86_400_000) } });
    await access('toggle', { enabled: false });
    const due = await access('toggle', { enabled: true, acme: {} });
    expect(due.acme).toMatchObject({ state: 'pending' });
    const [ordered] = await h.app.prisma.auditEvent.findMany({ where: { action: 'acme.request', targetId: due.acme.id } });
    expect(ordered!.changes).not.toHaveProperty('reusedCertificate');
  });

  it('an order whose request is withdrawn while it runs is dropped: no failure recorded or audited, nothing logged as an error', async () => {
    await mkdb('withdrawn');
    const on = await access('withdrawn', { enabled: true, tlsMode: 'terminate', acme: {} });
    // The worker read the row (`due()`); then external access is disabled, which deletes it.
    const row = await h.app.prisma.acmeCertificate.findUniqueOrThrow({ where: { id: on.acme.id }, include: { certificate: true } });
    await access('withdrawn', { enabled: false });
    const log = (h.app.services.acme as unknown as { deps: { log: pino.Logger } }).deps.log;
    const errors = vi.spyOn(log, 'error');
    const warnings = vi.spyOn(log, 'warn');
    const infos = vi.spyOn(log, 'info');
    const [withdrawn, failed] = [await orders('issuance', 'withdrawn'), await orders('issuance', 'failed')];
    try {
      await h.app.services.acme.process(row);
      expect([await orders('issuance', 'withdrawn'), await orders('issuance', 'failed')]).toEqual([withdrawn + 1, failed]);
      expect(errors).not.toHaveBeenCalled();
      expect(warnings).not.toHaveBeenCalled();
      expect(infos).toHaveBeenCalledWith(expect.objectContaining({ hostname: row.hostname }), 'ACME order dropped: its request was withdrawn while it ran');
    } finally {
      vi.restoreAllMocks();
    }
    expect(await h.app.prisma.auditEvent.count({ where: { action: 'acme.fail', targetId: row.id } })).toBe(0);
    expect(await h.app.prisma.acmeCertificate.count({ where: { hostname: row.hostname } })).toBe(0);
  });

  it('goes with its database, challenges included, and the worker no longer sees the name', async () => {
    const host = 'drop.acme.db.example.com';
    const due = async () => (await h.app.services.acme.due(new Date(), 1000)).map((r) => r.hostname);
    await mkdb('drop');
    const a = await access('drop', { enabled: true, tlsMode: 'terminate', acme: {} });
    await challenge(a.acme.id, host);
    expect(await due()).toContain(host);

    expect((await h.call('DELETE', '/api/v1/tenants/acme/databases/drop', undefined, token)).statusCode).toBe(204);
    expect(await h.app.prisma.acmeCertificate.findUnique({ where: { hostname: host } })).toBeNull();
    expect(await h.app.prisma.acmeChallenge.count({ where: { hostname: host } })).toBe(0);
    expect(await due()).not.toContain(host);
    expect(await deleted(a.acme.id)).toMatchObject([{ changes: { hostname: { from: host, to: null }, reason: { to: 'database-deleted' } } }]);
    // The name is free again.
    await mkdb('drop');
    expect((await access('drop', { enabled: true, tlsMode: 'terminate', acme: {} })).acme).toMatchObject({ state: 'pending' });
  });

  it.each([
    { db: 'renamed', reason: 'hostname-changed', change: { enabled: true, hostname: 'pg.follow.example.net' }, batch: false },
    { db: 'unwrapped', reason: 'tls-mode-changed', change: { enabled: true, tlsMode: 'passthrough' }, batch: false },
    { db: 'batched', reason: 'route-disabled', change: { enabled: false }, batch: true },
  ])('goes when the route gives its name up: $reason (batch: $batch)', async ({ db, reason, change, batch }) => {
    await mkdb(db);
    const a = await access(db, { enabled: true, tlsMode: 'terminate', acme: {} });
    const r = batch ? await h.call('POST', '/api/v1/tenants/acme/external-access/batch', { items: [{ database: db, ...change }] }, token) : await h.call('PUT', path(db), change, token);
    expect(r.statusCode, r.body).toBe(200);
    expect(await h.app.prisma.acmeCertificate.findUnique({ where: { id: a.acme.id } })).toBeNull();
    expect(await deleted(a.acme.id)).toMatchObject([{ changes: { hostname: { from: `${db}.acme.db.example.com`, to: null }, reason: { to: reason } } }]);
  });

  it('goes when the tenant gives the route another certificate, and stays when given back the one it issued', async () => {
    const host = 'chosen.acme.db.example.com';
    await mkdb('chosen');
    const a = await access('chosen', { enabled: true, tlsMode: 'terminate', acme: {} });
    // Issued: the worker leaves a certificate of kind `acme` attached to the route.
    const tenant = await h.app.prisma.tenant.findFirstOrThrow({ where: { slug: 'acme' } });
    const issued = await h.app.prisma.certificate.create({ data: { ...(await h.app.services.certificates.mintForRoute(host)), tenantId: tenant.id, kind: 'acme', auto: false } });
    await h.app.prisma.acmeCertificate.update({ where: { id: a.acme.id }, data: { state: 'issued', certificateId: issued.id } });
    const other = await h.call('POST', '/api/v1/tenants/acme/certificates', { name: 'chosen', type: 'self-signed', hostnames: [host] }, token);
    expect(other.statusCode, other.body).toBe(201);

    // The tenant chooses another certificate: the request ends, the issued certificate stays.
    await access('chosen', { enabled: true, certificateId: other.json().id });
    expect(await h.app.prisma.acmeCertificate.findUnique({ where: { id: a.acme.id } })).toBeNull();
    expect(await deleted(a.acme.id)).toMatchObject([{ changes: { reason: { to: 'certificate-replaced' }, keptCertificate: { to: issued.id } } }]);
    expect(await h.app.prisma.certificate.findUnique({ where: { id: issued.id } })).not.toBeNull();

    // A new request, issued, then its own certificate given back after a detour: kept.
    const b = await access('chosen', { enabled: true, acme: {} });
    await h.app.prisma.acmeCertificate.update({ where: { id: b.acme.id }, data: { state: 'issued', certificateId: issued.id } });
    await h.app.prisma.route.update({ where: { hostname: host }, data: { certificateId: other.json().id } });
    const back = await access('chosen', { enabled: true, certificateId: issued.id });
    expect(back).toMatchObject({ certificate: { id: issued.id }, acme: { id: b.acme.id, state: 'issued' } });
  });

  it('goes with its tenant, with an audit event', async () => {
    const { token: doomed } = await seedTenant(h, 'doomed');
    await mkdb('vault', 'doomed', doomed);
    const a = await access('vault', { enabled: true, tlsMode: 'terminate', acme: {} }, 'doomed', doomed);
    expect((await h.call('DELETE', '/api/v1/tenants/doomed')).statusCode).toBe(204);
    expect(await h.app.prisma.acmeCertificate.findUnique({ where: { id: a.acme.id } })).toBeNull();
    expect(await deleted(a.acme.id)).toMatchObject([{ actorType: 'admin-token', changes: { hostname: { from: 'vault.doomed.db.example.com', to: null }, reason: { to: 'tenant-deleted' } } }]);
  });
});
