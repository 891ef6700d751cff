/**
 * A full snapshot streams through a cursor in batches, each handed to `snapshotStream` before
 * the table is built (what the cluster primary forwards to its workers). Each notified change
 * is applied as a delta read in one round trip: an update, a deletion and several changes
 * folded into one read.
 *
 * Route sync after its LISTEN connection drops: a change log that still continues the
 * table's history is read as a delta (no full snapshot: what keeps a fleet's resync after a
 * database restart small); one whose newest change is not the one the table ends with (a
 * restored or failed-over database reusing the number) gets a full snapshot.
 */
import { ControlDb, createTestDatabase, type TestDatabase } from '@switchyard/testkit';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMetrics } from '../metrics.js';
import { RouteSync, type TableChange } from './route-sync.js';

const APP = 'route-sync-int-test';
let db: TestDatabase;
let control: ControlDb;
let pool: pg.Pool;
let sync: RouteSync;
const metrics = createMetrics();
const changes: TableChange[] = [];
const waiters: Array<() => void> = [];

/** Resolves once `pred` holds, checked after every table change (no polling). */
const until = async (pred: () => boolean) => {
  while (!pred()) await new Promise<void>((r) => waiters.push(r));
};
const syncs = async (kind: 'full' | 'delta') => (await metrics.syncs.get()).values.find((v) => v.labels.kind === kind && v.labels.result === 'ok')?.value ?? 0;
/** Ends the LISTEN connection from the server's side, as a database restart would. */
const dropListener = async () => {
  const r = await pool.query(`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, [APP]);
  expect(r.rowCount).toBe(1);
};

beforeAll(async () => {
  db = await createTestDatabase();
  control = new ControlDb(db.url);
  await control.putRoute({ database: 'a', engine: 'postgres', upstream: { host: '127.0.0.1', port: 5432 }, hostname: 'a.acme.db.example.com', listener: 'postgres' });
  const { version } = await control.putRoute({ database: 'b', engine: 'postgres', upstream: { host: '127.0.0.1', port: 5432 }, hostname: 'b.acme.db.example.com', listener: 'postgres' });
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  sync = new RouteSync({
    connectionString: db.url,
    pool,
    resyncIntervalMs: 600_000,
    log: pino({ level: 'silent' }),
    metrics,
    applicationName: APP,
    onChange: (c) => {
      changes.push(c);
      for (const w of waiters.splice(0)) w();
    },
  });
  sync.start();
  await until(() => sync.current?.version === version);
});

afterAll(async () => {
  await sync?.stop();
  await pool?.end();
  await control?.close();
  await db?.drop();
});

it('applies updates, deletions and several changes folded into one read as deltas', async () => {
  const full = await syncs('full');
  const d = await control.putRoute({ database: 'd', engine: 'redis', upstream: { host: '127.0.0.1', port: 6390 }, hostname: 'd.acme.db.example.com', listener: 'tls' });
  await until(() => (sync.current?.version ?? 0) >= d.version);
  expect(sync.current!.match('tls', 'd.acme.db.example.com')?.enabled).toBe(true);
  expect(changes.at(-1)).toMatchObject({ kind: 'delta', changedIds: [d.routeId] });

  const off = await control.setEnabled(d.routeId, false);
  await until(() => (sync.current?.version ?? 0) >= off);
  expect(sync.current!.match('tls', 'd.acme.db.example.com')?.enabled).toBe(false);

  // Three commits before the proxy reads: one delta may carry them all; whatever the
  // folding, the table ends with all three applied and no full snapshot was needed.
  const [e, f] = await Promise.all([
    control.putRoute({ database: 'e', engine: 'redis', upstream: { host: '127.0.0.1', port: 6391 }, hostname: 'e.acme.db.example.com', listener: 'tls' }),
    control.putRoute({ database: 'f', engine: 'redis', upstream: { host: '127.0.0.1', port: 6392 }, hostname: 'f.acme.db.example.com', listener: 'tls' }),
  ]);
  const gone = await control.deleteRoute(d.routeId);
  await until(() => (sync.current?.version ?? 0) >= Math.max(e.version, f.version, gone));
  const t = sync.current!;
  expect(t.match('tls', 'd.acme.db.example.com')).toBeUndefined();
  expect(t.match('tls', 'e.acme.db.example.com')?.endpoints[0]).toMatchObject({ port: 6391 });
  expect(t.match('tls', 'f.acme.db.example.com')?.endpoints[0]).toMatchObject({ port: 6392 });
  expect(changes.at(-1)!.kind).toBe('delta');
  expect(changes.at(-1)!.changedIds).toContain(d.routeId);
  expect(await syncs('full')).toBe(full);
  // Leave the table as the reconnect tests expect it (a, b, then c).
  for (const id of [e.routeId, f.routeId]) await control.deleteRoute(id);
  await until(() => sync.current!.size === 2);
});

it('reads the change log as a delta after a reconnect when it continues the table', async () => {
  const full = await syncs('full');
  await dropListener();
  const { version } = await control.putRoute({ database: 'c', engine: 'postgres', upstream: { host: '127.0.0.1', port: 5432 }, hostname: 'c.acme.db.example.com', listener: 'postgres' });
  await until(() => (sync.current?.version ?? 0) >= version && sync.listening);
  expect(sync.current!.match('postgres', 'c.acme.db.example.com')).toBeDefined();
  expect(changes.at(-1)!.kind).toBe('delta');
  expect(await syncs('full')).toBe(full);
});

it('loads a full snapshot after a reconnect when the newest change is not the one it applied', async () => {
  const full = await syncs('full');
  const have = sync.current!.version;
  // Another history under the same number: what a restored backup or a fail-over that lost
  // commits looks like from the proxy's side.
  await pool.query(`UPDATE config_changes SET created_at = created_at - interval '1 hour' WHERE version = $1`, [have]);
  await dropListener();
  await until(() => changes.at(-1)!.kind === 'full' && changes.length > 0);
  expect(await syncs('full')).toBe(full + 1);
  expect(sync.current!.version).toBe(have);
  expect(sync.current!.size).toBe(3);
});

it('streams a full snapshot in batches before building the same table', async () => {
  const events: Array<string | string[]> = [];
  let table: TableChange['table'] | null = null;
  const streaming = new RouteSync({
    connectionString: db.url,
    pool,
    resyncIntervalMs: 600_000,
    log: pino({ level: 'silent' }),
    metrics: createMetrics(),
    applicationName: `${APP}-stream`,
    snapshotBatchRows: 2,
    snapshotStream: {
      begin: (version) => events.push(`begin ${version}`),
      rows: (records) => events.push(records.map((r) => r.hostname)),
      abort: () => events.push('abort'),
    },
    onChange: (c) => {
      events.push(`change ${c.kind} ${c.table.version}`);
      table = c.table;
      for (const w of waiters.splice(0)) w();
    },
  });
  streaming.start();
  try {
    await until(() => table !== null);
    const version = sync.current!.version;
    const hosts = [...sync.current!.routes()].map((r) => r.hostname).sort();
    expect(hosts).toHaveLength(3);
    // Three routes in batches of two: two batches, then the table.
    expect(events.map((e) => (Array.isArray(e) ? e.length : e))).toEqual([`begin ${version}`, 2, 1, `change full ${version}`]);
    expect(events.filter(Array.isArray).flat().sort()).toEqual(hosts);
    expect([...table!.routes()].map((r) => r.hostname).sort()).toEqual(hosts);
  } finally {
    await streaming.stop();
  }
});
