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
