/**
 * The heartbeat against a real PostgreSQL: the row it keeps, and the notification that tells
 * the API a version was applied — sent when the version changes (or the row is new), not on
 * every beat.
 */
import { PROXY_APPLIED_CHANNEL } from '@switchyard/core';
import { createTestDatabase, type TestDatabase } from '@switchyard/testkit';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Heartbeat } from './heartbeat.js';

let db: TestDatabase;
let pool: pg.Pool;
let listener: pg.Client;
const received: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  listener.on('notification', (n) => received.push(n.payload ?? ''));
  await listener.query(`LISTEN ${PROXY_APPLIED_CHANNEL}`);
});

afterAll(async () => {
  await listener?.end();
  await pool?.end();
  await db?.drop();
});

/** Every notification sent before this call has been delivered once it resolves. */
async function delivered(): Promise<string[]> {
  const marker = `marker-${received.length}-${Math.random()}`;
  const seen = new Promise<void>((resolve) => {
    const on = (n: pg.Notification) => {
      if (n.payload === marker) {
        listener.off('notification', on);
        resolve();
      }
    };
    listener.on('notification', on);
  });
  await pool.query('SELECT pg_notify($1, $2)', [PROXY_APPLIED_CHANNEL, marker]);
  await seen;
  return received.splice(0).filter((p) => !p.startsWith('marker-'));
}

it('notifies on the first beat and when the applied version changes, not on beats that change nothing', async () => {
  let version = 7;
  const hb = new Heartbeat(pool, { proxyId: 'hb-1', intervalMs: 3_600_000, listeners: [], softwareVersion: 'test' }, () => ({ appliedVersion: version, stats: { open: 1 } }), pino({ level: 'silent' }));
  await hb.beat();
  expect(await delivered()).toEqual(['hb-1:7']);
  const first = (await pool.query<{ heartbeat_at: Date; applied_at: Date }>('SELECT heartbeat_at, applied_at FROM proxy_instances WHERE id = $1', ['hb-1'])).rows[0]!;

  await hb.beat();
  await hb.beat();
  expect(await delivered()).toEqual([]);
  const row = (await pool.query<{ heartbeat_at: Date; applied_at: Date; applied_version: string }>('SELECT heartbeat_at, applied_at, applied_version FROM proxy_instances WHERE id = $1', ['hb-1'])).rows[0]!;
  // The row is still written (liveness, stats); only the notification is left out.
  expect(row.heartbeat_at.getTime()).toBeGreaterThan(first.heartbeat_at.getTime());
  expect(row.applied_at).toEqual(first.applied_at);

  version = 8;
  await hb.beat();
  expect(await delivered()).toEqual(['hb-1:8']);
  await hb.beat();
  expect(await delivered()).toEqual([]);
  expect((await pool.query('SELECT applied_version FROM proxy_instances WHERE id = $1', ['hb-1'])).rows[0]).toEqual({ applied_version: '8' });
  await hb.stop();
});
