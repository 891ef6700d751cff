/**
 * The upstream leg of a terminate-mode route: `upstreamServerName` (the name the proxy sends as
 * SNI and checks the upstream's certificate against) is validated, normalised, stored, audited
 * and returned; null gives the upstream host name back.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, seedTenant, type Harness } from '../../testing/harness.js';

let h: Harness;
let owner: string;
const access = '/api/v1/tenants/acme/databases/pods/external-access';

beforeAll(async () => {
  h = await createHarness({ SWITCHYARD_KEYS: `k1:${randomBytes(32).toString('base64')}` });
  ({ token: owner } = await seedTenant(h));
  const r = await h.call('POST', '/api/v1/tenants/acme/databases', { name: 'pods', engine: 'postgres', upstream: { host: '127.0.0.7', port: 5432 } }, owner);
  expect(r.statusCode).toBe(201);
});
afterAll(async () => h.close());

describe('upstreamServerName', () => {
  it('is null until set, then stored lower-case without a trailing dot, returned and audited', async () => {
    const before = await h.call('GET', access, undefined, owner);
    expect(before.json().upstreamServerName).toBeNull();

    const put = await h.call('PUT', access, { enabled: true, tlsMode: 'terminate', upstreamTls: true, upstreamServerName: 'PG-RW.Acme.svc.' }, owner);
    expect(put.statusCode, JSON.stringify(put.json())).toBe(200);
    expect(put.json()).toMatchObject({ tlsMode: 'terminate', upstreamTls: true, upstreamServerName: 'pg-rw.acme.svc' });
    const row = await h.app.prisma.route.findFirstOrThrow({ where: { hostname: put.json().hostname } });
    expect(row.upstreamServerName).toBe('pg-rw.acme.svc');

    // A Service's short name is a name a certificate can carry too.
    const short = await h.call('PUT', access, { enabled: true, upstreamServerName: 'pg-rw' }, owner);
    expect(short.json().upstreamServerName).toBe('pg-rw');
    const audit = await h.app.prisma.auditEvent.findFirstOrThrow({ where: { targetType: 'route', action: 'route.update' }, orderBy: { id: 'desc' } });
    expect(audit.changes).toMatchObject({ upstreamServerName: { from: 'pg-rw.acme.svc', to: 'pg-rw' } });

    // Leaving it out keeps it; null clears it.
    expect((await h.call('PUT', access, { enabled: true }, owner)).json().upstreamServerName).toBe('pg-rw');
    expect((await h.call('PUT', access, { enabled: true, upstreamServerName: null }, owner)).json().upstreamServerName).toBeNull();
  });

  it.each([['10.244.1.7'], ['[::1]'], ['*.acme.svc'], ['pg.acme.svc:5432'], ['pg acme'], ['-pg.acme.svc'], ['a'.repeat(64) + '.svc']])(
    'refuses %s with the field named, and changes nothing',
    async (name) => {
      const version = (await h.call('GET', access, undefined, owner)).json().version;
      const r = await h.call('PUT', access, { enabled: true, upstreamServerName: name }, owner);
      expect(r.statusCode).toBe(400);
      expect(r.json()).toMatchObject({ code: 'SY_VALIDATION', details: [{ field: 'body.upstreamServerName' }] });
      expect((await h.call('GET', access, undefined, owner)).json().version).toBe(version);
    },
  );

  it('is taken in a batch item too', async () => {
    const r = await h.call('POST', '/api/v1/tenants/acme/external-access/batch', { items: [{ database: 'pods', enabled: true, upstreamServerName: 'pg.acme.svc.cluster.local' }] }, owner);
    expect(r.statusCode).toBe(200);
    expect((await h.call('GET', access, undefined, owner)).json().upstreamServerName).toBe('pg.acme.svc.cluster.local');
  });
});
