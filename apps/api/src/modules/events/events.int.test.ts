import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, seedTenant, type Harness } from '../../testing/harness.js';
import { csvField, decodeEventCursor, encodeEventCursor, EventsService } from './events.service.js';

let h: Harness;
let acme: string;
let beta: string;
const base = Date.parse('2026-11-20T00:00:00Z');

beforeAll(async () => {
  h = await createHarness();
  ({ token: acme } = await seedTenant(h, 'acme'));
  ({ token: beta } = await seedTenant(h, 'beta'));
  for (const slug of ['acme', 'beta']) {
    const tok = slug === 'acme' ? acme : beta;
    const r = await h.call('POST', `/api/v1/tenants/${slug}/databases`, { name: 'orders', engine: 'postgres', upstream: { host: '127.0.0.1', port: 5499 } }, tok);
    expect(r.statusCode, r.body).toBe(201);
  }
  const tenants = await h.app.prisma.tenant.findMany({ include: { databases: true } });
  const acmeT = tenants.find((t) => t.slug === 'acme')!;
  const betaT = tenants.find((t) => t.slug === 'beta')!;
  // 250 acme events one minute apart, every 10th refused; 5 beta events; 3 unrouted.
  const rows = [];
  for (let i = 0; i < 250; i++) {
    const refused = i % 10 === 0;
    rows.push({
      proxyId: 'p1',
      listener: 'postgres',
      tenantId: acmeT.id,
      databaseId: acmeT.databases[0]!.id,
      clientAddress: i % 2 === 0 ? '10.0.0.5' : '192.168.1.9',
      clientPort: 40000 + i,
      sni: 'orders.acme.db.example.com',
      startedAt: new Date(base + i * 60_000),
      endedAt: new Date(base + i * 60_000 + 1500),
      bytesIn: refused ? 0n : 100n,
      bytesOut: refused ? 7n : 1000n,
      outcome: refused ? 'rejected' : 'ok',
      reason: refused ? 'source_not_allowed' : 'client_closed',
      mode: 'passthrough',
    });
  }
  for (let i = 0; i < 5; i++) {
    rows.push({ proxyId: 'p1', listener: 'postgres', tenantId: betaT.id, databaseId: betaT.databases[0]!.id, clientAddress: '10.9.9.9', clientPort: 1, sni: 'orders.beta.db.example.com', startedAt: new Date(base + i * 1000), endedAt: new Date(base + i * 1000), outcome: 'ok', reason: 'client_closed' });
  }
  for (let i = 0; i < 3; i++) {
    rows.push({ proxyId: 'p1', listener: 'tls', clientAddress: '203.0.113.1', clientPort: 2, sni: 'nope.example.com', startedAt: new Date(base + i), endedAt: new Date(base + i), outcome: 'rejected', reason: 'unknown_host' });
  }
  await h.app.prisma.connectionEvent.createMany({ data: rows });
});
afterAll(async () => h.close());

const range = `from=${new Date(base).toISOString()}&to=${new Date(base + 86_400_000).toISOString()}`;

describe('connection events', () => {
  it('pages through every event of the tenant, newest first, without gaps or repeats', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await h.call('GET', `/api/v1/tenants/acme/connection-events?${range}&limit=40${cursor ? `&cursor=${cursor}` : ''}`, undefined, acme);
      expect(r.statusCode).toBe(200);
      const body = r.json();
      seen.push(...body.items.map((e: { id: string }) => e.id));
      for (const e of body.items) expect(e.tenant).toBe('acme');
      cursor = body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(7);
    expect(new Set(seen).size).toBe(250);
    const first = (await h.call('GET', `/api/v1/tenants/acme/connection-events?${range}&limit=2`, undefined, acme)).json().items;
    expect(Date.parse(first[0].startedAt)).toBeGreaterThan(Date.parse(first[1].startedAt));
    expect(first[0]).toMatchObject({ database: 'orders', durationMs: 1500, clientAddress: '192.168.1.9' });
  });

  it('filters by outcome, reason, client network and database', async () => {
    const q = (s: string) => h.call('GET', `/api/v1/tenants/acme/connection-events?${range}&limit=1000&${s}`, undefined, acme).then((r) => r.json().items.length);
    expect(await q('outcome=rejected')).toBe(25);
    expect(await q('reason=source_not_allowed&clientAddress=10.0.0.0/8')).toBe(25);
    expect(await q('clientAddress=192.168.1.9')).toBe(125);
    expect(await q('database=orders&outcome=ok')).toBe(225);
    expect((await h.call('GET', `/api/v1/tenants/acme/connection-events?${range}&database=nope`, undefined, acme)).json().code).toBe('SY_DATABASE_NOT_FOUND');
  });

  it('rejects bad filters naming the field', async () => {
    for (const [qs, field] of [
      ['clientAddress=10.0.0.1/8', 'querystring.clientAddress'],
      ['cursor=not-a-cursor', 'querystring.cursor'],
      // Shaped like ours but never issued: an id past PostgreSQL's bigint, a time past 9999.
      [`cursor=${Buffer.from('0:99999999999999999999').toString('base64url')}`, 'querystring.cursor'],
      [`cursor=${Buffer.from('999999999999999:1').toString('base64url')}`, 'querystring.cursor'],
      ['from=2026-11-22T00:00:00Z&to=2026-11-21T00:00:00Z', 'querystring.from'],
      ['from=2026-01-01T00:00:00Z&to=2026-11-21T00:00:00Z', 'querystring.from'],
      ['outcome=maybe', 'querystring.outcome'],
      ['limit=5000', 'querystring.limit'],
      ['bogus=1', 'querystring.bogus'],
    ] as const) {
      const r = await h.call('GET', `/api/v1/tenants/acme/connection-events?${qs}`, undefined, acme);
      expect(r.statusCode, qs).toBe(400);
      expect(r.json().details[0].field, qs).toBe(field);
    }
  });

  it('aggregates per interval with failures by reason, including empty buckets', async () => {
    const r = await h.call('GET', `/api/v1/tenants/acme/connection-events/stats?from=${new Date(base).toISOString()}&to=${new Date(base + 6 * 3600_000).toISOString()}&interval=1h`, undefined, acme);
    expect(r.statusCode).toBe(200);
    const b = r.json().buckets;
    expect(b).toHaveLength(6);
    expect(b[0]).toEqual({ start: new Date(base).toISOString(), connections: 60, ok: 54, failures: 6, bytesIn: 5400, bytesOut: 54042, failuresByReason: { source_not_allowed: 6 } });
    expect(b.reduce((n: number, x: { connections: number }) => n + x.connections, 0)).toBe(250);
    expect(b[5]).toMatchObject({ connections: 0, failuresByReason: {} });
    // Top client addresses of the range: 125 events each, 25 refused from 10.0.0.5.
    expect(r.json().topClients).toEqual([
      { clientAddress: '10.0.0.5', connections: 125, failures: 25 },
      { clientAddress: '192.168.1.9', connections: 125, failures: 0 },
    ]);
    const tooMany = await h.call('GET', `/api/v1/tenants/acme/connection-events/stats?from=2026-09-01T00:00:00Z&to=2026-11-21T00:00:00Z&interval=1m`, undefined, acme);
    expect(tooMany.json().details[0].field).toBe('querystring.interval');
  });

  it('aggregates under the list’s filters, and across tenants with unrouted connections for platform admins', async () => {
    const six = `from=${new Date(base).toISOString()}&to=${new Date(base + 6 * 3600_000).toISOString()}&interval=1h`;
    const filtered = (await h.call('GET', `/api/v1/tenants/acme/connection-events/stats?${six}&outcome=rejected&clientAddress=10.0.0.0/8`, undefined, acme)).json();
    expect(filtered.buckets.reduce((n: number, x: { connections: number }) => n + x.connections, 0)).toBe(25);
    const all = await h.call('GET', `/api/v1/connection-events/stats?${six}`);
    expect(all.statusCode).toBe(200);
    expect(all.json().buckets[0]).toMatchObject({ connections: 68, failuresByReason: { source_not_allowed: 6, unknown_host: 3 } });
    const unrouted = (await h.call('GET', `/api/v1/connection-events/stats?${six}&reason=unknown_host`)).json();
    expect(unrouted.topClients).toEqual([{ clientAddress: '203.0.113.1', connections: 3, failures: 3 }]);
    expect((await h.call('GET', `/api/v1/connection-events/stats?${six}`, undefined, acme)).statusCode).toBe(403);
    expect((await h.call('GET', `/api/v1/connection-events/stats?${six}&tenant=beta`)).json().buckets[0].connections).toBe(5);
  });

  it('charts hourly spans from the rollup exactly as from the events themselves', async () => {
    // A cut-off last hour: the rollup serves whole hours, the events the rest.
    const span = `from=${new Date(base).toISOString()}&to=${new Date(base + 4 * 3600_000 + 30 * 60_000).toISOString()}&interval=1h`;
    const rollup = (await h.call('GET', `/api/v1/tenants/acme/connection-events/stats?${span}`, undefined, acme)).json();
    // An SNI filter matching every acme event forces the raw path.
    const raw = (await h.call('GET', `/api/v1/tenants/acme/connection-events/stats?${span}&sni=orders.acme.db.example.com`, undefined, acme)).json();
    expect(rollup.buckets).toEqual(raw.buckets);
    expect(rollup.buckets[4]).toMatchObject({ connections: 10, failures: 1 });
    const rows = await h.app.prisma.$queryRaw<Array<{ n: bigint }>>`SELECT sum(connections)::int8 AS n FROM connection_event_rollups WHERE level = 0`;
    expect(Number(rows[0]!.n)).toBe(258);
  });

  it('counts top client addresses exactly up to a bound, and beyond it estimates them from a sample it names', async () => {
    const acmeT = (await h.app.prisma.tenant.findUnique({ where: { slug: 'acme' } }))!;
    const actor = { principal: { actorType: 'admin-token' as const, actorId: 't', isPlatformAdmin: true, tenantRoles: new Map() }, requestId: 't', clientAddress: '127.0.0.1' };
    const q = { from: new Date(base).toISOString(), to: new Date(base + 6 * 3600_000).toISOString(), interval: '1h' as const };
    const exact = await h.app.services.events.stats(actor, 'acme', q);
    expect(exact.topClientsSampled).toBeNull();
    expect(exact.topClients).toEqual([
      { clientAddress: '10.0.0.5', connections: 125, failures: 25 },
      { clientAddress: '192.168.1.9', connections: 125, failures: 0 },
    ]);
    // 250 matching events over a bound of 100: about 40 % of them, in slices across the span.
    const small = new EventsService(h.app.prisma, { resolve: async () => acmeT }, { topClientsExactMax: 100 });
    const est = await small.stats(actor, 'acme', q);
    expect(est.topClientsSampled).toBeCloseTo(0.4, 2);
    expect(est.topClients.map((c) => c.clientAddress).sort()).toEqual(['10.0.0.5', '192.168.1.9']);
    for (const c of est.topClients) expect(Math.abs(c.connections - 125)).toBeLessThanOrEqual(25);
    // The same request gives the same estimate; an address filter is always exact.
    expect(await small.stats(actor, 'acme', q)).toEqual(est);
    const one = await small.stats(actor, 'acme', { ...q, clientAddress: '10.0.0.5' });
    expect(one.topClientsSampled).toBeNull();
    expect(one.topClients).toEqual([{ clientAddress: '10.0.0.5', connections: 125, failures: 25 }]);
  });

  it('exports CSV with a header and every matching row', async () => {
    const r = await h.call('GET', `/api/v1/tenants/acme/connection-events?${range}&format=csv&outcome=rejected`, undefined, acme);
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toContain('text/csv');
    expect(r.headers['content-disposition']).toContain('connections-acme.csv');
    const lines = r.body.trim().split('\r\n');
    expect(lines[0]).toBe('id,startedAt,endedAt,durationMs,tenant,database,listener,sni,clientAddress,clientPort,outcome,reason,bytesIn,bytesOut,mode,alpn,tlsVersion,proxyId,routeId,upstream,connectionId,endedBy');
    expect(lines).toHaveLength(26);
  });

  it('never shows another tenant’s events and keeps unrouted ones for platform admins', async () => {
    const r = await h.call('GET', `/api/v1/tenants/acme/connection-events?${range}&limit=1000`, undefined, beta);
    expect(r.statusCode).toBe(404);
    const own = await h.call('GET', `/api/v1/tenants/beta/connection-events?${range}`, undefined, beta);
    expect(own.json().items).toHaveLength(5);
    expect((await h.call('GET', `/api/v1/connection-events?${range}`, undefined, beta)).statusCode).toBe(403);
    const all = await h.call('GET', `/api/v1/connection-events?${range}&limit=1000&reason=unknown_host`);
    expect(all.json().items.map((e: { tenant: string | null }) => e.tenant)).toEqual([null, null, null]);
  });
});

describe('audit events', () => {
  it('lists the tenant’s changes for admins only, newest first', async () => {
    const r = await h.call('GET', '/api/v1/tenants/acme/audit-events', undefined, acme);
    expect(r.statusCode).toBe(200);
    const actions = r.json().items.map((e: { action: string }) => e.action);
    expect(actions).toEqual(['database.create', 'token.create', 'tenant.create']);
    expect(r.json().items.every((e: { tenant: string }) => e.tenant === 'acme')).toBe(true);
    const filtered = await h.call('GET', '/api/v1/tenants/acme/audit-events?action=database.create', undefined, acme);
    expect(filtered.json().items).toHaveLength(1);
    const member = await h.call('POST', '/api/v1/tenants/acme/tokens', { name: 'ro', role: 'member' }, acme);
    expect((await h.call('GET', '/api/v1/tenants/acme/audit-events', undefined, member.json().token)).statusCode).toBe(403);
    const csv = await h.call('GET', '/api/v1/audit-events?format=csv&tenant=beta');
    expect(csv.body.split('\r\n')[0]).toBe('id,at,actorType,actorId,tenant,action,targetType,targetId,changes,clientAddress,requestId');
  });
});

describe('helpers', () => {
  it('round-trips cursors and neutralises CSV formulas', () => {
    const c = decodeEventCursor(encodeEventCursor(new Date(base), 12345678901234n));
    expect(c).toEqual({ at: new Date(base), id: 12345678901234n });
    expect(csvField('=cmd()')).toBe("'=cmd()");
    expect(csvField('a,"b"')).toBe('"a,""b"""');
    expect(csvField(null)).toBe('');
    expect(csvField(-5)).toBe('-5');
  });
});

describe('retention', () => {
  it('deletes connection events older than the retention period only', async () => {
    const { EventRetention } = await import('./retention.js');
    const old = new Date(Date.now() - 100 * 86_400_000);
    await h.app.prisma.connectionEvent.create({ data: { proxyId: 'p', listener: 'tls', clientPort: 1, startedAt: old, endedAt: old, outcome: 'ok', reason: 'client_closed' } });
    const before = await h.app.prisma.connectionEvent.count();
    const deleted = await new EventRetention(h.app.prisma, 90, h.app.log).runOnce();
    expect(deleted).toBe(1);
    expect(await h.app.prisma.connectionEvent.count()).toBe(before - 1);
  });
});
