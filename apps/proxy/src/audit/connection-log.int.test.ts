/**
 * The connection audit queue against a real PostgreSQL: batches are written, and while
 * writes fail (the control database unreachable, here: its table renamed away, or no
 * server at all) events wait in a bounded queue; overflow is counted, reported in
 * metrics and logs, and nothing is lost without a count.
 */
import { Writable } from 'node:stream';
import { createTestDatabase, getFreePort, type TestDatabase } from '@switchyard/testkit';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../metrics.js';
import { ConnectionLog, type ConnectionEventInput } from './connection-log.js';

let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

function event(i: number, tag: string): ConnectionEventInput {
  const t = Date.now();
  return {
    listener: 'tls',
    routeId: null,
    tenantId: null,
    databaseId: null,
    clientAddress: '192.0.2.1',
    clientPort: i,
    sni: `${tag}.example.com`,
    alpn: null,
    tlsVersion: null,
    mode: null,
    startedAt: t,
    endedAt: t,
    bytesIn: 0,
    bytesOut: 0,
    outcome: 'rejected',
    reason: 'unknown_host',
  };
}

const count = async (tag: string) =>
  Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM connection_events WHERE sni = $1', [`${tag}.example.com`])).rows[0]!.n);

describe('ConnectionLog', () => {
  it('writes in batches', async () => {
    const metrics = createMetrics();
    const { log } = capture();
    const cl = new ConnectionLog(pool, { proxyId: 'p1', queueMax: 1000, batchSize: 7, flushMs: 60_000 }, metrics, log);
    for (let i = 0; i < 20; i++) cl.record(event(i, 'batch'));
    await cl.flush();
    expect(await count('batch')).toBe(20);
    expect(cl.written).toBe(20);
    expect((await metrics.auditWritten.get()).values[0]!.value).toBe(20);
    await cl.stop(1000);
  });

  it('holds events while writes fail, counts overflow, and reports the outage total when writes resume', async () => {
    const metrics = createMetrics();
    const { log, lines } = capture();
    const cl = new ConnectionLog(pool, { proxyId: 'p1', queueMax: 100, batchSize: 50, flushMs: 60_000 }, metrics, log);
    await pool.query('ALTER TABLE connection_events RENAME TO connection_events_away');
    try {
      for (let i = 0; i < 130; i++) cl.record(event(i, 'outage'));
      await cl.flush();
      expect(cl.pending).toBe(100);
      expect(cl.dropped).toBe(30);
      expect((await metrics.auditDropped.get()).values[0]!.value).toBe(30);
      expect((await metrics.auditQueued.get()).values[0]!.value).toBe(100);
      expect(lines.some((l) => l.msg === 'connection audit queue full: dropping events')).toBe(true);
      expect(lines.some((l) => l.msg === 'connection audit write failed; will retry')).toBe(true);
    } finally {
      await pool.query('ALTER TABLE connection_events_away RENAME TO connection_events');
    }
    await cl.flush();
    expect(await count('outage')).toBe(100);
    const resumed = lines.find((l) => l.msg === 'connection audit writes resumed; events were dropped meanwhile');
    expect(resumed).toMatchObject({ droppedDuringOutage: 30, droppedTotal: 30 });
    await cl.stop(1000);
  });

  it('writes every field as given, and a client ALPN holding NUL bytes (which PostgreSQL text cannot store) with U+FFFD in their place', async () => {
    const { log } = capture();
    const cl = new ConnectionLog(pool, { proxyId: 'p-fields', queueMax: 100, batchSize: 10, flushMs: 60_000 }, createMetrics(), log);
    const ids = ['6f1c1a2e-1111-4222-8333-444455556666', '6f1c1a2e-1111-4222-8333-444455556667', '6f1c1a2e-1111-4222-8333-444455556668'];
    const full: ConnectionEventInput = {
      ...event(7, 'fields'),
      routeId: ids[0]!,
      tenantId: ids[1]!,
      databaseId: ids[2]!,
      clientAddress: '2001:db8::1',
      alpn: 'h2',
      tlsVersion: 'TLSv1.3',
      mode: 'terminate',
      startedAt: Date.UTC(2026, 11, 6, 23, 0, 0, 123),
      endedAt: Date.UTC(2026, 11, 6, 23, 0, 5, 456),
      bytesIn: 2 ** 40 + 1,
      bytesOut: 17,
      outcome: 'ok',
      reason: 'client_closed',
      upstream: 'db.internal:5432',
      connectionId: '0.42',
      endedBy: 'user:ada@example.com',
    };
    cl.record(full);
    cl.record({ ...event(8, 'nul'), alpn: 'h2\u0000evil\u0000' });
    await cl.flush();
    expect(cl.written).toBe(2);
    expect(cl.dropped).toBe(0);
    const { rows } = await pool.query(
      `SELECT proxy_id, listener, route_id, tenant_id, database_id, host(client_address) AS client_address, client_port, sni, alpn, tls_version, mode,
              started_at, ended_at, bytes_in::text, bytes_out::text, outcome, reason, upstream, connection_id, ended_by
         FROM connection_events WHERE proxy_id = 'p-fields' ORDER BY client_port`,
    );
    expect(rows[0]).toEqual({
      proxy_id: 'p-fields',
      listener: 'tls',
      route_id: ids[0],
      tenant_id: ids[1],
      database_id: ids[2],
      client_address: '2001:db8::1',
      client_port: 7,
      sni: 'fields.example.com',
      alpn: 'h2',
      tls_version: 'TLSv1.3',
      mode: 'terminate',
      started_at: new Date(full.startedAt),
      ended_at: new Date(full.endedAt),
      bytes_in: String(2 ** 40 + 1),
      bytes_out: '17',
      outcome: 'ok',
      reason: 'client_closed',
      upstream: 'db.internal:5432',
      connection_id: '0.42',
      ended_by: 'user:ada@example.com',
    });
    expect(rows[1]).toMatchObject({ sni: 'nul.example.com', alpn: 'h2\uFFFDevil\uFFFD', route_id: null, upstream: null, connection_id: null, ended_by: null });
    await cl.stop(1000);
  });

  it('drops only the event the database refuses (counted, logged) and writes the rest of its batch and the batches after it', async () => {
    const metrics = createMetrics();
    const { log, lines } = capture();
    const cl = new ConnectionLog(pool, { proxyId: 'p1', queueMax: 100, batchSize: 5, flushMs: 60_000 }, metrics, log);
    for (let i = 0; i < 12; i++) cl.record(i === 2 ? { ...event(i, 'poison'), clientAddress: 'not-an-address' } : event(i, 'poison'));
    await cl.flush();
    expect(await count('poison')).toBe(11);
    expect(cl.written).toBe(11);
    expect(cl.dropped).toBe(1);
    expect(cl.pending).toBe(0);
    expect((await metrics.auditDropped.get()).values[0]!.value).toBe(1);
    expect((await metrics.auditWritten.get()).values[0]!.value).toBe(11);
    const refused = lines.filter((l) => l.msg === 'connection event refused by the database: dropped');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ code: '22P02' });
    expect(refused[0]!.event).toMatchObject({ clientAddress: 'not-an-address', sni: 'poison.example.com' });
    expect(lines.some((l) => l.msg === 'connection audit write failed; will retry')).toBe(false);
    // A fault refusing every event of a batch: each dropped and counted, the log bounded.
    for (let i = 0; i < 5; i++) cl.record({ ...event(100 + i, 'poison'), clientAddress: 'bad' });
    await cl.flush();
    expect(cl.dropped).toBe(6);
    expect(lines.filter((l) => l.msg === 'connection event refused by the database: dropped')).toHaveLength(1 + 3);
    expect(lines.find((l) => l.msg === 'connection events refused by the database: dropped (the first ones logged above)')).toMatchObject({ refused: 5, batch: 5, droppedTotal: 6 });
    // Later events flow as before.
    cl.record(event(99, 'poison'));
    await cl.flush();
    expect(await count('poison')).toBe(12);
    await cl.stop(1000);
  });

  it('counts what it cannot write at shutdown as dropped, with a log line', async () => {
    const metrics = createMetrics();
    const { log, lines } = capture();
    const dead = new pg.Pool({ connectionString: `postgres://nobody@127.0.0.1:${await getFreePort()}/none`, connectionTimeoutMillis: 500 });
    dead.on('error', () => {});
    const cl = new ConnectionLog(dead, { proxyId: 'p1', queueMax: 10, batchSize: 5, flushMs: 60_000 }, metrics, log);
    for (let i = 0; i < 12; i++) cl.record(event(i, 'shutdown'));
    await cl.stop(2000);
    expect(cl.dropped).toBe(12);
    expect(cl.pending).toBe(0);
    expect((await metrics.auditDropped.get()).values[0]!.value).toBe(12);
    expect(lines.find((l) => l.msg === 'connection events not written at shutdown (counted as dropped)')).toMatchObject({ lost: 10, droppedTotal: 12 });
    await dead.end();
  });
});
