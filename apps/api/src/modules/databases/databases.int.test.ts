/**
 * Databases (full CRUD with endpoints, balancing and health checks), the no-open-proxy rules,
 * and the routing fields of external access (dedicated ports, PROXY protocol to the upstream,
 * wildcard hostnames, destination routes, egress source addresses).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, seedTenant, type Harness } from '../../testing/harness.js';

let h: Harness;
let owner: string;
const base = '/api/v1/tenants/acme/databases';

beforeAll(async () => {
  h = await createHarness({
    SWITCHYARD_LISTENERS: [
      'postgres=postgres@0.0.0.0:15432',
      'tls=tls@0.0.0.0:16443/443',
      'web=http@0.0.0.0:8080/80',
      'kube=destination@0.0.0.0:8443;proxy-protocol=10.0.0.0/8',
      'egress=egress@0.0.0.0:17443',
    ].join(','),
    SWITCHYARD_DEDICATED_PORTS: '20000-20001',
    SWITCHYARD_EGRESS_SOURCE_ADDRESSES: '192.0.2.10,192.0.2.11',
    SWITCHYARD_PUBLIC_ADDRESS: '203.0.113.5',
  });
  ({ token: owner } = await seedTenant(h));
  const t = await h.call('PATCH', '/api/v1/tenants/acme', { allowedCustomDomains: ['hub.example.com'] });
  expect(t.statusCode).toBe(200);
  const beta = await h.call('POST', '/api/v1/tenants', { slug: 'beta', name: 'Beta', upstreamPolicy: { hostSuffixes: ['beta.svc.cluster.local'], cidrs: ['10.9.0.0/16'] } });
  expect(beta.statusCode).toBe(201);
});
afterAll(async () => h.close());

const pgA = { host: 'pg-0.pg.acme.svc.cluster.local', port: 5432 };
const pgB = { host: 'pg-1.pg.acme.svc.cluster.local', port: 5432 };
const check = { type: 'tls', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3 };

describe('databases CRUD', () => {
  it('creates with several endpoints, a balance policy and health checks, and reads them back', async () => {
    const c = await h.call('POST', base, { name: 'ha', engine: 'postgres', endpoints: [pgA, pgB], balance: 'least-connections', healthCheck: check }, owner);
    expect(c.statusCode).toBe(201);
    expect(c.json()).toMatchObject({ name: 'ha', engine: 'postgres', upstream: pgA, endpoints: [pgA, pgB], balance: 'least-connections', healthCheck: check });
    const g = await h.call('GET', `${base}/ha`, undefined, owner);
    expect(g.json()).toMatchObject({ endpoints: [pgA, pgB], balance: 'least-connections', healthCheck: check });
    const one = await h.call('POST', base, { name: 'single', engine: 'redis', upstream: { host: 'Redis.ACME.svc.cluster.local.', port: 6379 } }, owner);
    expect(one.json()).toMatchObject({ endpoints: [{ host: 'redis.acme.svc.cluster.local', port: 6379 }], balance: 'round-robin', healthCheck: null });
  });

  it('patches endpoints, balance, health checks and engine, each alone, and audits the change', async () => {
    let r = await h.call('PATCH', `${base}/ha`, { endpoints: [pgB] }, owner);
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ upstream: pgB, endpoints: [pgB], balance: 'least-connections', healthCheck: check });
    r = await h.call('PATCH', `${base}/ha`, { balance: 'source-hash', healthCheck: null }, owner);
    expect(r.json()).toMatchObject({ endpoints: [pgB], balance: 'source-hash', healthCheck: null });
    r = await h.call('PATCH', `${base}/ha`, { upstream: pgA }, owner);
    expect(r.json()).toMatchObject({ endpoints: [pgA] });
    r = await h.call('PATCH', `${base}/single`, { engine: 'mongodb' }, owner);
    expect(r.json()).toMatchObject({ engine: 'mongodb', externalAccess: { listener: 'tls' } });
    const audit = await h.app.prisma.auditEvent.findFirst({ where: { action: 'database.update' }, orderBy: { id: 'desc' } });
    expect(audit?.changes).toMatchObject({ engine: { from: 'redis', to: 'mongodb' } });
  });

  it('refuses an engine the route’s listener cannot serve', async () => {
    await h.call('POST', base, { name: 'site', engine: 'http', upstream: { host: 'web.acme.svc.cluster.local', port: 80 } }, owner);
    expect((await h.call('PUT', `${base}/site/external-access`, { enabled: true }, owner)).json()).toMatchObject({ listener: 'web', port: 80 });
    const r = await h.call('PATCH', `${base}/site`, { engine: 'postgres' }, owner);
    expect(r.statusCode).toBe(422);
    expect(r.json()).toMatchObject({ code: 'SY_LISTENER_MISMATCH', details: [{ field: 'body.engine' }] });
  });

  it('bumps the route version when a routed database changes', async () => {
    const before = (await h.call('GET', `${base}/site`, undefined, owner)).json().externalAccess.version;
    const r = await h.call('PATCH', `${base}/site`, { endpoints: [{ host: 'web-2.acme.svc.cluster.local', port: 80 }] }, owner);
    expect(r.json().externalAccess.version).toBeGreaterThan(before);
  });

  it.each([
    [{ name: 'x', engine: 'postgres' }, 'body.upstream'],
    [{ name: 'x', engine: 'postgres', upstream: pgA, endpoints: [pgB] }, 'body.endpoints'],
    [{ name: 'x', engine: 'postgres', endpoints: [] }, 'body.endpoints'],
    [{ name: 'x', engine: 'postgres', endpoints: Array.from({ length: 17 }, (_, i) => ({ host: `p${i}.acme.svc.cluster.local`, port: 5432 })) }, 'body.endpoints'],
    [{ name: 'x', engine: 'postgres', endpoints: [pgA, pgA] }, 'body.endpoints.1.host'],
    [{ name: 'x', engine: 'postgres', upstream: pgA, balance: 'random' }, 'body.balance'],
    [{ name: 'x', engine: 'postgres', upstream: pgA, healthCheck: { ...check, rise: 0 } }, 'body.healthCheck'],
    [{ name: 'x', engine: 'postgres', upstream: pgA, healthCheck: { ...check, extra: 1 } }, 'body.healthCheck'],
    [{ name: 'x', engine: 'postgres', endpoints: [{ host: 'a'.repeat(300), port: 5432 }] }, 'body.endpoints.0.host'],
  ])('refuses bad input %# with 400 naming %s', async (body, field) => {
    const r = await h.call('POST', base, body, owner);
    expect(r.statusCode).toBe(400);
    expect(r.json().code).toBe('SY_VALIDATION');
    expect(r.json().details.map((d: { field: string }) => d.field).join(' ')).toContain(field);
  });

  it('refuses an empty or unknown PATCH', async () => {
    expect((await h.call('PATCH', `${base}/ha`, {}, owner)).statusCode).toBe(400);
    const r = await h.call('PATCH', `${base}/ha`, { name: 'renamed' }, owner);
    expect(r.statusCode).toBe(400);
    expect(r.json().details[0].field).toContain('name');
  });

  it('lets members read but not write, and deletes', async () => {
    const tok = await h.call('POST', '/api/v1/tenants/acme/tokens', { name: 'reader', role: 'member' }, owner);
    const member = tok.json().token as string;
    expect((await h.call('GET', `${base}/ha`, undefined, member)).statusCode).toBe(200);
    expect((await h.call('PATCH', `${base}/ha`, { balance: 'round-robin' }, member)).statusCode).toBe(403);
    expect((await h.call('DELETE', `${base}/single`, undefined, owner)).statusCode).toBe(204);
    expect((await h.call('GET', `${base}/single`, undefined, owner)).statusCode).toBe(404);
  });
});

describe('no open proxy', () => {
  const refused = async (endpoint: { host: string; port: number }, reason: RegExp, field = 'body.endpoints.0.host') => {
    const r = await h.call('POST', base, { name: 'evil', engine: 'postgres', endpoints: [pgA, endpoint].slice(field.includes('.0.') ? 1 : 0) }, owner);
    expect(r.statusCode, endpoint.host).toBe(422);
    expect(r.json()).toMatchObject({ code: 'SY_UPSTREAM_NOT_ALLOWED', details: [{ field }] });
    expect(r.json().message).toMatch(reason);
  };

  it('refuses the control database', async () => {
    const ctl = new URL(h.db.url);
    await refused({ host: ctl.hostname, port: Number(ctl.port) }, /control database/);
  });

  it('refuses link-local metadata addresses even inside allowed networks', async () => {
    await h.call('PATCH', '/api/v1/tenants/acme', { upstreamPolicy: { hostSuffixes: ['acme.svc.cluster.local'], cidrs: ['127.0.0.0/8', '169.254.0.0/16', 'fd00::/8'] } });
    await refused({ host: '169.254.169.254', port: 80 }, /link-local, metadata/);
    await refused({ host: 'fd00:ec2::254', port: 80 }, /link-local, metadata/);
    await refused({ host: '169.254.170.2', port: 80 }, /link-local, metadata/, 'body.endpoints.1.host');
  });

  it('refuses other tenants’ namespaces and networks', async () => {
    await refused({ host: 'pg.beta.svc.cluster.local', port: 5432 }, /not under the tenant’s allowed suffixes/);
    await h.call('PATCH', '/api/v1/tenants/acme', { upstreamPolicy: { hostSuffixes: ['svc.cluster.local'], cidrs: ['10.0.0.0/8', '127.0.0.0/8'] } });
    await refused({ host: 'pg.beta.svc.cluster.local', port: 5432 }, /another tenant's namespace \(beta/);
    await refused({ host: '10.9.1.1', port: 5432 }, /belongs to another tenant \(beta\)/);
    const ok = await h.call('POST', base, { name: 'broad', engine: 'postgres', upstream: { host: 'pg.shared.svc.cluster.local', port: 5432 } }, owner);
    expect(ok.statusCode).toBe(201);
    // The narrower policy would strand it (SY_UPSTREAM_POLICY_CONFLICT): delete it first.
    expect((await h.call('DELETE', `${base}/broad`, undefined, owner)).statusCode).toBe(204);
    expect((await h.call('PATCH', '/api/v1/tenants/acme', { upstreamPolicy: { hostSuffixes: ['acme.svc.cluster.local'], cidrs: ['127.0.0.0/8'] } })).statusCode).toBe(200);
  });

  it('refuses loopback unless the platform allows it', async () => {
    const strict = await createHarness({ SWITCHYARD_ALLOW_LOOPBACK_UPSTREAMS: 'false' });
    try {
      const { token } = await seedTenant(strict);
      // Not :5432: against the machine's server that is the control database, refused before loopback.
      const r = await strict.call('POST', base, { name: 'lo', engine: 'postgres', upstream: { host: '127.0.0.1', port: 5499 } }, token);
      expect(r.statusCode).toBe(422);
      expect(r.json().message).toContain('loopback');
    } finally {
      await strict.close();
    }
  });
});

describe('external access routing fields', () => {
  const put = (db: string, body: Record<string, unknown>) => h.call('PUT', `${base}/${db}/external-access`, body, owner);

  beforeAll(async () => {
    for (const name of ['d1', 'd2', 'd3']) await h.call('POST', base, { name, engine: 'postgres', upstream: pgA }, owner);
    await h.call('POST', base, { name: 'k1', engine: 'kubernetes-api', upstream: { host: 'kube-apiserver.acme.svc.cluster.local', port: 443 } }, owner);
    await h.call('POST', base, { name: 'k2', engine: 'kubernetes-api', upstream: { host: 'kube-apiserver-2.acme.svc.cluster.local', port: 443 } }, owner);
  });

  it('assigns dedicated ports from the pool, keeps them, releases them and reports exhaustion', async () => {
    const a = await put('d1', { enabled: true, dedicatedPort: true });
    expect(a.statusCode).toBe(200);
    expect(a.json()).toMatchObject({ dedicatedPort: 20000, connection: { dedicated: 'psql "host=203.0.113.5 port=20000 dbname=DBNAME user=USER sslmode=require"' } });
    expect((await put('d1', { enabled: true, dedicatedPort: true })).json().dedicatedPort).toBe(20000);
    expect((await put('d2', { enabled: true, dedicatedPort: true })).json().dedicatedPort).toBe(20001);
    const full = await put('d3', { enabled: true, dedicatedPort: true });
    expect(full.statusCode).toBe(409);
    expect(full.json()).toMatchObject({ code: 'SY_DEDICATED_PORTS_EXHAUSTED', details: [{ field: 'body.dedicatedPort' }] });
    const released = await put('d1', { enabled: true, dedicatedPort: false });
    expect(released.json()).toMatchObject({ dedicatedPort: null });
    expect(released.json().connection.dedicated).toBeUndefined();
    expect((await put('d3', { enabled: true, dedicatedPort: true })).json().dedicatedPort).toBe(20000);
  });

  it('says when no dedicated port pool is configured', async () => {
    const none = await createHarness();
    try {
      const { token } = await seedTenant(none);
      await none.call('POST', base, { name: 'x', engine: 'postgres', upstream: pgA }, token);
      const r = await none.call('PUT', `${base}/x/external-access`, { enabled: true, dedicatedPort: true }, token);
      expect(r.statusCode).toBe(422);
      expect(r.json().code).toBe('SY_DEDICATED_PORTS_UNAVAILABLE');
    } finally {
      await none.close();
    }
  });

  it('sets PROXY protocol to the upstream', async () => {
    expect((await put('d2', { enabled: true, proxyProtocol: 'v2' })).json()).toMatchObject({ proxyProtocol: 'v2', dedicatedPort: 20001 });
    expect((await put('d2', { enabled: true, proxyProtocol: null })).json().proxyProtocol).toBeNull();
    const bad = await put('d2', { enabled: true, proxyProtocol: 'v3' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().details[0].field).toContain('proxyProtocol');
  });

  it('accepts wildcard hostnames only under the tenant’s allowed domains', async () => {
    const ok = await put('k1', { enabled: true, hostname: '*.Apps.Hub.example.com.' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().hostname).toBe('*.apps.hub.example.com');
    for (const [hostname, code] of [
      ['*.acme.db.example.com', 'SY_HOSTNAME_NOT_ALLOWED'],
      ['*.db.example.com', 'SY_HOSTNAME_NOT_ALLOWED'],
      ['*.apps.other.example.org', 'SY_HOSTNAME_NOT_ALLOWED'],
      ['a.*.hub.example.com', 'SY_VALIDATION'],
      ['*.com', 'SY_VALIDATION'],
    ] as const) {
      const r = await put('k2', { enabled: true, hostname });
      expect(r.json().code, hostname).toBe(code);
      expect(r.json().details[0].field).toBe('body.hostname');
    }
  });

  it('routes by destination only on destination listeners, one route per destination', async () => {
    const ok = await put('k1', { enabled: true, listener: 'kube', destination: '10.1.2.3:443' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ listener: 'kube', destination: '10.1.2.3:443', port: 8443 });
    const taken = await put('k2', { enabled: true, listener: 'kube', destination: '10.1.2.3:443' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ code: 'SY_DESTINATION_TAKEN', details: [{ field: 'body.destination' }] });
    for (const body of [{ listener: 'kube' }, { listener: 'kube', destination: 'cluster-ip:443' }, { listener: 'tls', destination: '10.1.2.4:443' }]) {
      const r = await put('k2', { enabled: true, ...body });
      expect(r.statusCode, JSON.stringify(body)).toBe(400);
      expect(r.json().details[0].field).toBe('body.destination');
    }
    const v6 = await put('k2', { enabled: true, listener: 'kube', destination: '[FD00:0::10]:6443' });
    expect(v6.json().destination).toBe('[fd00::10]:6443');
  });

  it('requires an owned egress source address on egress listeners', async () => {
    const r = await put('d1', { enabled: true, listener: 'egress' });
    expect(r.statusCode).toBe(422);
    expect(r.json()).toMatchObject({ code: 'SY_EGRESS_SOURCE_NOT_ALLOWED', details: [{ field: 'body.sourceAddress' }] });
    const foreign = await put('d1', { enabled: true, listener: 'egress', sourceAddress: '198.51.100.1' });
    expect(foreign.json().code).toBe('SY_EGRESS_SOURCE_NOT_ALLOWED');
    const ok = await put('d1', { enabled: true, listener: 'egress', sourceAddress: '192.0.2.11' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ listener: 'egress', sourceAddress: '192.0.2.11' });
  });
});
