import { describe, expect, it } from 'vitest';
import type { ConnectionEventInput } from '../audit/connection-log.js';
import { compileRoute, RouteTable } from '../router/route-table.js';
import { route } from '../testing/routes.js';
import {
  decodeEvent,
  decodeFromWorker,
  decodeEntries,
  decodeToWorker,
  deltaMessage,
  encodeRecords,
  encodeEvent,
  recordOf,
  snapshotMessages,
  SnapshotAssembler,
  SnapshotCache,
  type ToWorker,
} from './messages.js';

/** `Array.fromAsync` (Node 22+). */
async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const routes = (n: number) =>
  Array.from({ length: n }, (_, i) => route({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, hostname: `db${i}.t.example.com`, sourceCidrs: i % 2 ? ['10.0.0.0/8'] : [] }));

/** What crosses the channel: node:cluster serialises as JSON. */
const wire = <T>(m: T): unknown => JSON.parse(JSON.stringify(m));

const event: ConnectionEventInput = {
  listener: 'postgres',
  routeId: '00000000-0000-4000-8000-000000000001',
  tenantId: '00000000-0000-4000-8000-000000000002',
  databaseId: '00000000-0000-4000-8000-000000000003',
  clientAddress: '192.0.2.7',
  clientPort: 50123,
  sni: 'orders.acme.db.example.com',
  alpn: 'postgresql',
  tlsVersion: null,
  mode: 'passthrough',
  startedAt: 1_700_000_000_000,
  endedAt: 1_700_000_000_250,
  bytesIn: 1234,
  bytesOut: 98765,
  outcome: 'ok',
  reason: 'client_closed',
  upstream: '127.0.0.1:5432',
  connectionId: '1.42',
  endedBy: null,
};

describe('route table over IPC', () => {
  it('sends a snapshot in chunks that reassemble into the same table', () => {
    const table = RouteTable.build(42, routes(5));
    const msgs = [...snapshotMessages(table, 1234, 2)];
    expect(msgs.map((m) => m.t === 'snapshot' && [m.part, m.count, m.last])).toEqual([
      [0, 2, false],
      [1, 2, false],
      [2, 1, true],
    ]);
    const a = new SnapshotAssembler();
    let done: ReturnType<SnapshotAssembler['feed']> = null;
    for (const m of msgs) {
      const decoded = decodeToWorker(wire(m));
      expect(decoded?.t).toBe('snapshot');
      done = a.feed(decoded as Extract<ToWorker, { t: 'snapshot' }>) ?? done;
    }
    if (!done) throw new Error('snapshot not reassembled');
    expect(done.version).toBe(42);
    expect(done.committedAt).toBe(1234);
    const rebuilt = done.table;
    expect(rebuilt.version).toBe(42);
    expect(rebuilt.size).toBe(5);
    for (const r of table.routes()) expect(rebuilt.get(r.id)).toEqual(r);
    // CIDRs are compiled again on the worker's side.
    expect(rebuilt.match('postgres', 'db1.t.example.com')!.allowedSources).toHaveLength(1);
  });

  it('sends an empty table as one last part', () => {
    const msgs = snapshotMessages(RouteTable.empty(), null);
    expect(msgs).toEqual([{ sy: 1, t: 'snapshot', version: 0, committedAt: null, part: 0, last: true, count: 0, routes: '[]' }]);
  });

  it('carries every field of a route as a tuple, and refuses a corrupt part', () => {
    const full = route({
      id: '00000000-0000-4000-8000-0000000000ff',
      hostname: 'full.acme.db.example.com',
      tlsMode: 'terminate',
      sourceCidrs: ['10.0.0.0/8'],
      maxConnections: 5,
      tenantMaxConnections: 50,
      endpoints: [{ host: '10.1.0.1', port: 5432 }, { host: '10.1.0.2', port: 5432 }],
      balance: 'least-connections',
      healthCheck: { type: 'tcp', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3 },
      proxyProtocol: 'v2',
      dedicatedPort: 20001,
      destination: '10.0.0.9:443',
      sourceAddress: '192.0.2.10',
      certificate: { id: 'c1', certPem: 'PEM', keyCiphertext: 'k', fingerprint: 'fp', notAfter: 1_800_000_000_000 },
      upstreamTls: false,
      upstreamCa: 'CA',
      upstreamServerName: 'pg.tenant.svc',
      acmeChallenge: { id: 'a1', type: 'tls-alpn-01', token: 'tok', keyAuthorization: 'ka', certPem: 'ACME', keyCiphertext: 'ak' },
    });
    // Decoded straight to table entries: the record plus its compiled source ranges.
    expect(decodeEntries(encodeRecords([full]))).toEqual([compileRoute(full)]);
    // Optional fields a snapshot row gives as null come back absent, which means the same.
    const nulls = route({ healthCheck: null, proxyProtocol: null, dedicatedPort: null, destination: null, sourceAddress: null, acmeChallenge: null, upstreamServerName: null });
    expect(decodeEntries(encodeRecords([nulls]))).toEqual([compileRoute(route())]);
    expect(decodeEntries('not json')).toBeNull();
    expect(decodeEntries('[[1,2]]')).toBeNull();
    expect(decodeEntries('{}')).toBeNull();
    const [part] = snapshotMessages(RouteTable.build(3, routes(2)), null);
    const a = new SnapshotAssembler();
    expect(a.feed({ ...part!, count: 3 })).toBeNull();
    expect(a.feed({ ...part!, routes: '[[' })).toBeNull();
    expect(a.feed(part!)?.table.size).toBe(2);
    expect(decodeToWorker({ ...part, routes: [] })).toBeNull();
  });

  it('encodes a table once for every reader, part by part as the first reader needs it', async () => {
    const table = RouteTable.build(9, routes(5000));
    const cache = new SnapshotCache();
    const a = cache.read(table, 77);
    const b = cache.read(table, 77);
    const first = (await a.next()).value!;
    expect(first).toMatchObject({ part: 0, last: false, count: 2000 });
    // Interleaved readers see the very same messages (no second encoding).
    expect((await b.next()).value).toBe(first);
    const restA = await collect(a);
    const restB = await collect(b);
    expect(restB).toEqual(restA);
    restB.forEach((m, i) => expect(m).toBe(restA[i]));
    expect([first, ...restA].map((m) => [m.part, m.count, m.last])).toEqual([
      [0, 2000, false],
      [1, 2000, false],
      [2, 1000, true],
    ]);
    expect((await collect(cache.read(table, 77)))[0]).toBe(first);
    // Another table (or a cleared cache) is encoded afresh.
    cache.clear();
    expect((await collect(cache.read(table, 77)))[0]).not.toBe(first);
    const other = RouteTable.build(10, routes(1));
    expect(await collect(cache.read(other, null))).toEqual(snapshotMessages(other, null));
    // No table and nothing streaming: nothing to send.
    expect(await collect(new SnapshotCache().read(null, null))).toEqual([]);
  });

  it('streams a loading snapshot to readers as its batches arrive, then serves its table from the same parts', async () => {
    const all = routes(5);
    const cache = new SnapshotCache();
    cache.begin(4, 88);
    expect(cache.streaming).toBe(true);
    cache.push(all.slice(0, 2));
    const early = cache.read(null, null);
    expect((await early.next()).value).toMatchObject({ version: 4, committedAt: 88, part: 0, count: 2, last: false });
    // The reader waits for the next batch rather than ending.
    const pending = early.next();
    cache.push(all.slice(2, 5));
    expect((await pending).value).toMatchObject({ part: 1, count: 3, last: false });
    // A reader arriving mid-stream starts at part 0.
    const late = cache.read(null, null);
    expect((await late.next()).value).toMatchObject({ part: 0 });
    const table = RouteTable.build(4, all);
    cache.finish(table);
    expect(cache.streaming).toBe(false);
    const closing = (await early.next()).value!;
    expect(closing).toMatchObject({ part: 2, count: 0, last: true });
    expect((await early.next()).done).toBe(true);
    // A worker fed the stream builds the same table as the primary.
    const asm = new SnapshotAssembler();
    let built: ReturnType<SnapshotAssembler['feed']> = null;
    for await (const m of cache.read(table, 88)) built = asm.feed(m) ?? built;
    if (!built) throw new Error('the stream built no table');
    expect(built.version).toBe(4);
    expect([...built.table.routes()].map((r) => r.id).sort()).toEqual(all.map((r) => r.id).sort());
    expect((await collect(cache.read(table, 88)))[2]).toBe(closing);
  });

  it('stops the readers of a snapshot whose load failed part-way', async () => {
    const cache = new SnapshotCache();
    cache.begin(5, null);
    cache.push(routes(2));
    const r = cache.read(null, null);
    expect((await r.next()).value).toMatchObject({ part: 0 });
    const pending = r.next();
    cache.abandon();
    expect((await pending).done).toBe(true);
    expect(cache.streaming).toBe(false);
    // The retry streams afresh from part 0.
    cache.begin(5, null);
    cache.push(routes(1));
    expect((await cache.read(null, null).next()).value).toMatchObject({ part: 0, count: 1 });
  });

  it('restarts the assembly when a new snapshot begins before the last one finished', () => {
    const a = new SnapshotAssembler();
    const first = [...snapshotMessages(RouteTable.build(1, routes(3)), null, 2)];
    const second = [...snapshotMessages(RouteTable.build(2, routes(2)), null, 1)];
    expect(second.map((m) => m.last)).toEqual([false, true]);
    expect(a.feed(first[0] as never)).toBeNull();
    expect(a.feed(second[0] as never)).toBeNull();
    const done = a.feed(second[1] as never);
    expect(done?.version).toBe(2);
    expect([...done!.table.routes()].map((r) => r.hostname).sort()).toEqual(['db0.t.example.com', 'db1.t.example.com']);
    // A stray part (not the next one) is ignored until a part 0 arrives.
    expect(a.feed(first[1] as never)).toBeNull();
  });

  it('turns a delta into upserts and deletes from the version it applies to', () => {
    const before = RouteTable.build(7, routes(3));
    const changed = { ...routes(3)[1]!, enabled: false };
    const after = before.withChanges(8, [changed], [routes(3)[2]!.id]);
    const m = deltaMessage({ kind: 'delta', table: after, previous: before, changedIds: [changed.id, routes(3)[2]!.id], committedAt: new Date(5000) });
    expect(m).toEqual({ sy: 1, t: 'delta', from: 7, version: 8, committedAt: 5000, upserts: [recordOf(after.get(changed.id)!)], deletes: [routes(3)[2]!.id] });
    expect(decodeToWorker(wire(m))).toEqual(m);
    expect(recordOf(after.get(changed.id)!)).not.toHaveProperty('allowedSources');
    // Full loads travel as snapshots.
    expect(deltaMessage({ kind: 'full', table: after, previous: before, changedIds: [], committedAt: null })).toBeNull();
  });
});

describe('connection events over IPC', () => {
  it('round-trips an event as a tuple', () => {
    const t = encodeEvent(event);
    expect(Array.isArray(t)).toBe(true);
    expect(JSON.stringify(t).length).toBeLessThan(JSON.stringify(event).length * 0.7);
    expect(decodeEvent(wire(t))).toEqual(event);
  });

  it('sends an absent upstream as null', () => {
    const { upstream: _u, connectionId: _c, endedBy: _e, ...noUpstream } = event;
    expect(decodeEvent(wire(encodeEvent(noUpstream)))).toEqual({ ...noUpstream, upstream: null, connectionId: null, endedBy: null });
  });

  it('rejects tuples of the wrong length or types', () => {
    expect(decodeEvent([])).toBeNull();
    expect(decodeEvent('x')).toBeNull();
    const bad = encodeEvent(event);
    bad[5] = '50123';
    expect(decodeEvent(bad)).toBeNull();
    const bad2 = encodeEvent(event);
    bad2[0] = null;
    expect(decodeEvent(bad2)).toBeNull();
  });
});

describe('message decoding', () => {
  it('accepts what workers send', () => {
    const key = { routeId: 'r', routeMax: 2, tenantId: 't', tenantMax: null };
    const msgs = [
      { sy: 1, t: 'hello' },
      { sy: 1, t: 'applied', version: 3, routes: 10 },
      { sy: 1, t: 'listening', ports: { postgres: 15432 } },
      { sy: 1, t: 'resync', have: null },
      { sy: 1, t: 'events', events: [encodeEvent(event)], dropped: 0 },
      { sy: 1, t: 'acquire', id: 1, key },
      { sy: 1, t: 'release', key },
      { sy: 1, t: 'metrics', id: 4, metrics: [] },
      { sy: 1, t: 'stats', open: 1, routed: 1 },
      { sy: 1, t: 'cancel', worker: 2, bytes: 'AAAAEATSFi4=' },
      { sy: 1, t: 'refusal', address: '192.0.2.1', code: 'route_disabled', hostname: 'a.b' },
      { sy: 1, t: 'refusal-taken', address: '192.0.2.1' },
      { sy: 1, t: 'accepting-stopped', open: 0 },
      { sy: 1, t: 'bye' },
    ];
    for (const m of msgs) expect(decodeFromWorker(wire(m)), m.t).toEqual(m);
  });

  it('ignores anything else', () => {
    for (const m of [
      null,
      'hello',
      [],
      { t: 'hello' },
      { sy: 2, t: 'hello' },
      { sy: 1, t: 'nope' },
      { sy: 1, t: 'applied', version: '3', routes: 1 },
      { sy: 1, t: 'acquire', id: 1, key: { routeId: 'r', routeMax: 'x', tenantId: 't', tenantMax: null } },
      { sy: 1, t: 'listening', ports: { postgres: 'x' } },
      { sy: 1, t: 'refusal', address: '192.0.2.1', code: 'not_a_code', hostname: null },
      // node:cluster's own messages and prom-client's cluster protocol
      { cmd: 'NODE_CLUSTER', act: 'online' },
      { type: 'prom-client:getMetricsReq', requestId: 1 },
    ]) {
      expect(decodeFromWorker(m)).toBeNull();
      expect(decodeToWorker(m)).toBeNull();
    }
  });

  it('accepts what the primary sends', () => {
    for (const m of [
      { sy: 1, t: 'slot', id: 1, refusal: null },
      { sy: 1, t: 'slot', id: 2, refusal: 'tenant_connection_limit' },
      { sy: 1, t: 'metrics', id: 1 },
      { sy: 1, t: 'cancel', bytes: 'AAAAEATSFi4=' },
      { sy: 1, t: 'stop-accepting' },
      { sy: 1, t: 'drain', timeoutMs: 30000 },
    ]) {
      expect(decodeToWorker(wire(m)), m.t).toEqual(m);
    }
  });
});
