/**
 * The drain deadline with sessions still open, through the real proxy (in-process) and a real
 * PostgreSQL (the tests' own server: DATABASE_URL or the embedded one):
 *  - terminate-mode PostgreSQL sessions — idle, and in the middle of a long result set — read
 *    an ErrorResponse FATAL 57P01 at a message boundary (node-postgres reports code 57P01, not
 *    a lost connection or a protocol error), and their database backends end;
 *  - passthrough sessions (the proxy cannot write into their TLS) and terminate-mode sessions
 *    of other engines are closed bare, as before;
 *  - every one is recorded as `proxy_shutdown`;
 *  - the same words for a route disabled with `close` and for an order through the API
 *    (`route_disabled_closed`, `terminated`), each naming its cause;
 *  - connections not handed over yet (a database still being dialled, a hello still to come)
 *    are refused in the language they speak at that moment (`shutting_down`).
 * e2e/protocol/postgres-terminate.test.ts repeats the PostgreSQL cases with psql on a proxy process.
 */
import { once } from 'node:events';
import { connect as tcpConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createCertificateAuthority, issueCertificate } from '@switchyard/pki';
import { ControlDb, createTestDatabase, readUntilClose, startFakeUpstream, startTls, testCert, type FakeUpstream, type TestDatabase } from '@switchyard/testkit';
import { buildSslRequest } from '@switchyard/wire';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionEventsOf, startInProcessProxy } from '../testing/in-process.js';

const D = 'acme.db.example.com';
const routeCa = createCertificateAuthority({ commonName: 'Drain Route CA' });
let db: TestDatabase;
let control: ControlDb;
/** Straight to the database server, to watch its backends. */
let direct: pg.Client;
/** The route to PostgreSQL's own server and its login. */
let server: { host: string; port: number; user: string; password: string; database: string };
let version = 0;
/** A terminate-mode route to the same server whose disabling closes its sessions. */
let closingRoute = '';
/** A TLS upstream that echoes (passthrough) and a plaintext one that echoes (a Redis-style route). */
let passUpstream: FakeUpstream;
let echoServer: Server;
/** An upstream that accepts and never answers (the proxy's TLS to it waits): dials still under way. */
let stallServer: Server;
const stalled: Socket[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  control = new ControlDb(db.url);
  const u = new URL(db.url);
  // A literal address: the dial-time guard lets loopback literals through (vetted by the API).
  const host = u.hostname === 'localhost' ? '127.0.0.1' : u.hostname;
  server = { host, port: Number(u.port || 5432), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1) };
  direct = new pg.Client({ connectionString: db.url });
  await direct.connect();
  passUpstream = await startFakeUpstream({ ...testCert(['127.0.0.1']), postgres: true });
  echoServer = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => echoServer.listen(0, '127.0.0.1', r));
  stallServer = createServer((s) => {
    s.on('error', () => {});
    stalled.push(s);
  });
  await new Promise<void>((r) => stallServer.listen(0, '127.0.0.1', r));
  const stallPort = (stallServer.address() as AddressInfo).port;
  const terminate = (name: string) => ({ hostname: `${name}.${D}`, tlsMode: 'terminate' as const, certificate: issueCertificate(routeCa, { hostnames: [`${name}.${D}`] }) });
  await control.putRoute({ database: 'pg', engine: 'postgres', upstream: { host, port: server.port }, listener: 'postgres', upstreamTls: false, ...terminate('pg') });
  ({ routeId: closingRoute } = await control.putRoute({ database: 'pgclose', engine: 'postgres', upstream: { host, port: server.port }, listener: 'postgres', upstreamTls: false, disableBehavior: 'close', ...terminate('pgclose') }));
  await control.putRoute({ database: 'pass', engine: 'postgres', upstream: { host: '127.0.0.1', port: passUpstream.port }, hostname: `pass.${D}`, listener: 'postgres' });
  await control.putRoute({ database: 'stallpg', engine: 'postgres', upstream: { host: '127.0.0.1', port: stallPort }, listener: 'postgres', upstreamTls: true, ...terminate('stallpg') });
  await control.putRoute({ database: 'stallcache', engine: 'redis', upstream: { host: '127.0.0.1', port: stallPort }, listener: 'tls', upstreamTls: true, ...terminate('stallcache') });
  ({ version } = await control.putRoute({
    database: 'cache',
    engine: 'redis',
    upstream: { host: '127.0.0.1', port: (echoServer.address() as AddressInfo).port },
    listener: 'tls',
    upstreamTls: false,
    ...terminate('cache'),
  }));
});

afterAll(async () => {
  await direct?.end();
  await passUpstream?.close();
  await new Promise<void>((r) => (echoServer ? echoServer.close(() => r()) : r()));
  for (const s of stalled) s.destroy();
  await new Promise<void>((r) => (stallServer ? stallServer.close(() => r()) : r()));
  await control?.close();
  await db?.drop();
});

/** A proxy whose drain deadline is short: whatever is open when it stops is still open then. */
const drainingProxy = (id: string) => startInProcessProxy(db.url, id, version, { PROXY_DRAIN_TIMEOUT_MS: '300' });

/** node-postgres through the proxy's terminate-mode route. */
async function pgClient(port: number, applicationName: string, name = 'pg'): Promise<{ client: pg.Client; errors: Error[] }> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: server.user,
    password: server.password,
    database: server.database,
    application_name: applicationName,
    ssl: { ca: routeCa.certPem, servername: `${name}.${D}` },
  });
  const errors: Error[] = [];
  client.on('error', (err) => errors.push(err));
  await client.connect();
  return { client, errors };
}

/** The database's backends of this application name (through the proxy or not). */
async function backends(applicationName: string): Promise<number> {
  const r = await direct.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where application_name = $1', [applicationName]);
  return r.rows[0]!.n;
}

const events = (proxyId: string) => connectionEventsOf(control, proxyId);

describe('drain deadline: terminate-mode PostgreSQL sessions are told why', () => {
  it('an idle node-postgres session and one in the middle of a long result set both get FATAL 57P01; their backends end', async () => {
    const proxy = await drainingProxy('drain-pg');
    const idle = await pgClient(proxy.ports.postgres!, 'drain-idle');
    expect((await idle.client.query<{ one: number }>('select 1 as one')).rows[0]!.one).toBe(1);
    const busy = await pgClient(proxy.ports.postgres!, 'drain-busy');
    // ~5 GB of 1,000-byte rows: still streaming at the deadline, whatever the machine. Rows are
    // counted, not kept.
    const q = busy.client.query(new pg.Query("select repeat('x', 1000) as r from generate_series(1, 5000000)"));
    let rows = 0;
    q.on('row', () => rows++);
    const queryFailed = once(q, 'error') as Promise<[Error & { code?: string; severity?: string }]>;
    await once(q, 'row');
    // Not events.once: it would reject on the 'error' event this test waits for.
    const idleEnded = new Promise((resolve) => idle.client.once('end', resolve));

    await proxy.stop();

    const [err] = await queryFailed;
    expect([err.code, err.severity, err.message]).toEqual(['57P01', 'FATAL', 'Switchyard: the proxy is shutting down; reconnect']);
    expect((err as { hint?: string }).hint).toMatch(/A new connection reaches a proxy that is running/);
    expect(rows).toBeGreaterThan(0);
    expect(rows).toBeLessThan(5_000_000);
    await idleEnded;
    // The server's message, not a lost connection: that comes after it, when the socket closes.
    expect(idle.errors[0]).toMatchObject({ code: '57P01', severity: 'FATAL', message: 'Switchyard: the proxy is shutting down; reconnect' });
    // The idle backend got a Terminate, the busy one a closed socket at its next write.
    await expect.poll(() => backends('drain-idle'), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => backends('drain-busy'), { timeout: 10_000 }).toBe(0);
    expect(await events('drain-pg')).toEqual([
      { sni: `pg.${D}`, outcome: 'ok', reason: 'proxy_shutdown' },
      { sni: `pg.${D}`, outcome: 'ok', reason: 'proxy_shutdown' },
    ]);
  });
});

describe('a route disabled with close, and an order through the API: terminate-mode PostgreSQL sessions are told why', () => {
  it('the session of a route disabled with close reads FATAL 57P01 naming the disabled access; one ended by an order reads "terminating connection due to administrator command"', async () => {
    const proxy = await drainingProxy('ended-pg');
    const onRoute = await pgClient(proxy.ports.postgres!, 'ended-by-route', 'pgclose');
    const onOrder = await pgClient(proxy.ports.postgres!, 'ended-by-order');
    for (const c of [onRoute, onOrder]) expect((await c.client.query<{ one: number }>('select 1 as one')).rows[0]!.one).toBe(1);
    const ends = [onRoute, onOrder].map((c) => new Promise((resolve) => c.client.once('end', resolve)));

    await proxy.waitForVersion(await control.setEnabled(closingRoute, false));
    await ends[0];
    expect(onRoute.errors[0]).toMatchObject({
      code: '57P01',
      severity: 'FATAL',
      message: 'Switchyard: external access to this database was disabled; the session was closed',
      hint: expect.stringMatching(/enable it again/),
    });

    const live = proxy.registry.snapshot(10).find((c) => c.sni === `pg.${D}`);
    expect(live).toBeDefined();
    expect(proxy.registry.terminate(live!.id, 'user:ops@example.com')).toBe(true);
    await ends[1];
    expect(onOrder.errors[0]).toMatchObject({
      code: '57P01',
      severity: 'FATAL',
      message: 'Switchyard: terminating connection due to administrator command',
      hint: expect.stringMatching(/ended through the Switchyard API/),
    });
    // Both backends got a Terminate: the sessions were between two messages on both sides.
    await expect.poll(() => backends('ended-by-route'), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => backends('ended-by-order'), { timeout: 10_000 }).toBe(0);
    await proxy.stop();
    await control.setEnabled(closingRoute, true);
    expect(await events('ended-pg')).toEqual([
      { sni: `pg.${D}`, outcome: 'ok', reason: 'terminated' },
      { sni: `pgclose.${D}`, outcome: 'ok', reason: 'route_disabled_closed' },
    ]);
  });
});

describe('drain deadline: sessions the proxy cannot speak in are closed bare, as before', () => {
  it('passthrough PostgreSQL and a terminate-mode Redis session get no bytes, just the close', async () => {
    const proxy = await drainingProxy('drain-others');
    const pass = await startTls({ port: proxy.ports.postgres!, servername: `pass.${D}`, postgres: true });
    const redis = await startTls({ port: proxy.ports.tls!, servername: `cache.${D}`, ca: routeCa.certPem });
    for (const s of [pass, redis]) {
      s.write('ping');
      const [echoed] = (await once(s, 'data')) as [Buffer];
      expect(echoed.toString()).toBe('ping');
    }
    const received = Promise.all([readUntilClose(pass), readUntilClose(redis)]);
    await proxy.stop();
    const [passBytes, redisBytes] = await received;
    expect(passBytes.length).toBe(0);
    expect(redisBytes.length).toBe(0);
    expect(await events('drain-others')).toEqual([
      { sni: `cache.${D}`, outcome: 'ok', reason: 'proxy_shutdown' },
      { sni: `pass.${D}`, outcome: 'ok', reason: 'proxy_shutdown' },
    ]);
  });
});

describe('drain deadline: connections not handed over yet are refused in their language', () => {
  it('a terminate-mode PostgreSQL login whose database is still being dialled reads FATAL 57P01, a Redis client waiting for its ServerHello a RESP error, a libpq client before its hello a TLS alert', async () => {
    const proxy = await drainingProxy('drain-dialling');
    const dialled = stalled.length;
    const pgc = new pg.Client({ host: '127.0.0.1', port: proxy.ports.postgres!, user: 'u', database: 'd', ssl: { ca: routeCa.certPem, servername: `stallpg.${D}` } });
    pgc.on('error', () => {});
    const pgFailed = pgc.connect().then(
      () => null,
      (err: Error & { code?: string }) => err,
    );
    const redis = tlsConnect({ host: '127.0.0.1', port: proxy.ports.tls!, servername: `stallcache.${D}`, ca: routeCa.certPem });
    // The answer comes after the client's first command, as a Redis server's would.
    redis.once('secureConnect', () => redis.write('*1\r\n$4\r\nPING\r\n'));
    const redisBytes = readUntilClose(redis);
    // A libpq client that asked for TLS and was answered 'S', its ClientHello not sent yet.
    const early = tcpConnect({ host: '127.0.0.1', port: proxy.ports.postgres! });
    early.write(buildSslRequest());
    const [answer] = (await once(early, 'data')) as [Buffer];
    expect(answer.toString()).toBe('S');
    const earlyBytes = readUntilClose(early);
    // Both upstreams are being dialled: the stalling server holds their TCP connections.
    await expect.poll(() => stalled.length - dialled, { timeout: 10_000 }).toBe(2);

    await proxy.stop();

    expect(await pgFailed).toMatchObject({ code: '57P01', severity: 'FATAL', message: 'Switchyard: the proxy is shutting down; reconnect' });
    expect((await redisBytes).toString()).toBe('-ERR Switchyard: the proxy is shutting down; reconnect\r\n');
    // A TLS alert record: content type 21, fatal (2), internal_error (80).
    const alert = await earlyBytes;
    expect([alert[0], alert[5], alert[6]]).toEqual([21, 2, 80]);
    expect(await events('drain-dialling')).toEqual([
      { sni: `stallcache.${D}`, outcome: 'aborted', reason: 'shutting_down' },
      { sni: `stallpg.${D}`, outcome: 'aborted', reason: 'shutting_down' },
      { sni: null, outcome: 'aborted', reason: 'shutting_down' },
    ]);
  });
});
