/**
 * PostgreSQL in terminate mode, end to end against a real PostgreSQL 18 through the proxy
 * process, with real clients:
 *  - cancel: psql's Ctrl-C (libpq PQcancel: a plaintext CancelRequest on a new connection,
 *    no SNI) cancels a running pg_sleep — the client holds a proxy-minted key that the proxy
 *    maps back to the backend; node-postgres' plaintext cancel; protocol 3.2 with 32-byte keys
 *    (raw frontend), in plaintext and over TLS with SNI; a plaintext upstream and a TLS one;
 *    in cluster mode (PROXY_WORKERS=2) a cancel relayed to the worker that minted the key;
 *  - clients without SNI (psql sslsni=0 with host as an IP, node-postgres with an IP) routed
 *    by `options=endpoint=<database>.<tenant>` over the default certificate, and the refusals
 *    when the option is missing or disagrees with the SNI;
 *  - refusals before handover (disabled, source CIDR, upstream down) as ErrorResponses that
 *    psql prints with their SQLSTATE and hint;
 *  - direct TLS (`sslnegotiation=direct`, ALPN postgresql) with node-postgres and a raw client;
 *  - the drain deadline (SIGTERM, one process and two workers): an idle psql, a psql in the
 *    middle of a COPY and node-postgres in the middle of a result set read FATAL 57P01 from the
 *    proxy instead of a lost connection.
 */
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, testCa, testCert, type TestDatabase } from '@switchyard/testkit';
import { buildCancelRequest, buildSslRequest, PG_PROTOCOL_3_0, PG_PROTOCOL_3_2 } from '@switchyard/wire';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgStartup, PgError, type PgSession } from '../support/pg-frontend.js';
import { Metrics, RawClient } from '../support/raw.js';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { libpq, psqlSession, run, start } from '../support/tools.js';
import { startTlsPostgres, tempDir, type TlsPostgres } from '../support/upstreams.js';

const KEYS = `e2e:${randomBytes(32).toString('base64')}`;
const host = (db: string) => `${db}.acme.${BASE_DOMAIN}`;
const login = { user: 'postgres', password: 'postgres', database: 'postgres' };
let db: TestDatabase;
let postgres: TlsPostgres;
let proxy: ProxyProcess;
let api: ApiServer;
let token: string;
/** The platform CA (route certificates) and the test CA (the default certificate, PostgreSQL's own). */
let platformCaFile: string;
let platformCa: string;
let testCaFile: string;

const access = (database: string, body: unknown) => api.call('PUT', `/api/v1/tenants/acme/databases/${database}/external-access?wait=true`, body, token);

beforeAll(async () => {
  db = await createTestDatabase();
  postgres = await startTlsPostgres(['127.0.0.1']);
  const dir = tempDir('sy-e2e-pgterm-');
  // The certificate for handshakes without SNI: a wildcard for the tenant's names, from the test CA.
  const fallback = testCert([`*.acme.${BASE_DOMAIN}`]);
  writeFileSync(join(dir, 'default.crt'), fallback.certPem);
  writeFileSync(join(dir, 'default.key'), fallback.keyPem, { mode: 0o600 });
  testCaFile = join(dir, 'test-ca.pem');
  writeFileSync(testCaFile, testCa().certPem);
  proxy = await startProxyProcess(db.url, {
    SWITCHYARD_KEYS: KEYS,
    SWITCHYARD_BASE_DOMAIN: BASE_DOMAIN,
    PROXY_DEFAULT_CERT_FILE: join(dir, 'default.crt'),
    PROXY_DEFAULT_KEY_FILE: join(dir, 'default.key'),
    PROXY_CONNECT_TIMEOUT_MS: '2000',
  });
  api = await startApi(db.url, proxy.ports, { SWITCHYARD_KEYS: KEYS });
  token = await seedTenant(api);
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const deadPort = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const routes: Array<[string, number, Record<string, unknown>]> = [
    // Plaintext leg to PostgreSQL (the in-cluster case).
    ['orders', postgres.port, { upstreamTls: false }],
    // TLS leg (SSLRequest, S, TLS verified against the test CA), for sessions and cancels.
    ['ledger', postgres.port, { upstreamTls: true, upstreamCa: testCa().certPem }],
    // Reached by address, verified by name (pod addresses behind a Service's certificate):
    // the server's certificate names localhost and 127.0.0.1, not pg-rw.acme.svc.
    ['named', postgres.port, { upstreamTls: true, upstreamCa: testCa().certPem, upstreamServerName: 'localhost' }],
    ['misnamed', postgres.port, { upstreamTls: true, upstreamCa: testCa().certPem, upstreamServerName: 'pg-rw.acme.svc' }],
    ['closed', postgres.port, { upstreamTls: false, enabled: false }],
    ['fenced', postgres.port, { upstreamTls: false, sourceCidrs: ['10.0.0.0/8'] }],
    ['gone', deadPort, { upstreamTls: false }],
  ];
  for (const [name, port, body] of routes) {
    const r = await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port } }, token);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const a = await access(name, { enabled: true, tlsMode: 'terminate', ...body });
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    expect(a.body.propagation.state).toBe('applied');
  }
  platformCaFile = join(dir, 'switchyard-ca.pem');
  platformCa = await (await fetch(`${api.url}/api/v1/pki/ca.pem`)).text();
  writeFileSync(platformCaFile, platformCa);
});

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  await postgres?.cleanup();
  await db?.drop();
});

/** A session straight to PostgreSQL (not through the proxy), to watch pg_stat_activity. */
async function watcher(): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: postgres.port, ...login, ssl: { ca: readFileSync(postgres.caFile, 'utf8') } });
  await c.connect();
  return c;
}

/** Resolves once a backend runs a statement matching `like` and sleeps in it. */
async function sleeping(like: string): Promise<number> {
  const w = await watcher();
  try {
    for (;;) {
      const r = await w.query<{ pid: number }>("select pid from pg_stat_activity where query like $1 and wait_event = 'PgSleep'", [like]);
      if (r.rows.length === 1) return r.rows[0]!.pid;
    }
  } finally {
    await w.end();
  }
}

async function tcp(port: number): Promise<Socket> {
  const s = netConnect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  return s;
}

/** SSLRequest → 'S' → TLS with SNI `servername` (route certificate, platform CA). */
async function starttls(servername: string): Promise<TLSSocket> {
  const s = await tcp(proxy.ports.postgres);
  s.write(buildSslRequest());
  const [b] = (await once(s, 'data')) as [Buffer];
  expect(b.toString()).toBe('S');
  const t = tlsConnect({ socket: s, servername, ca: platformCa });
  await once(t, 'secureConnect');
  return t;
}

/**
 * The error node-postgres reports when connecting (libpq prints no SQLSTATE for connection
 * errors, so psql shows the message and hint and node-postgres the code).
 */
async function connectError(config: pg.ClientConfig): Promise<{ code?: string; message: string; hint?: string }> {
  const client = new pg.Client({ host: '127.0.0.1', port: proxy.ports.postgres, ...login, ...config });
  try {
    await client.connect();
  } catch (err) {
    return err as { code?: string; message: string; hint?: string };
  } finally {
    await client.end().catch(() => {});
  }
  throw new Error('expected the connection to be refused');
}

/**
 * Runs `select pg_sleep(30)` on `client` and, once it sleeps, cancels it the way node-postgres
 * does: a plaintext CancelRequest on a new connection to `port`, like libpq's PQcancel
 * (pg.Client#cancel is public in node-postgres 8 but missing from @types/pg). Resolves with
 * the query's SQLSTATE, null if it ended normally, or 'not cancelled' after 10 s.
 */
async function sleepAndCancel(client: pg.Client, port: number, tag: string): Promise<string | null | undefined> {
  const query = new pg.Query(`select pg_sleep(30) /* ${tag} */`);
  const result = new Promise<string | null | undefined>((resolve) => {
    query.on('error', (err: Error & { code?: string }) => resolve(err.code));
    query.on('end', () => resolve(null));
  });
  client.query(query);
  await sleeping(`select pg_sleep(30) /* ${tag} */%`);
  const canceller = new pg.Client({ host: '127.0.0.1', port }) as unknown as { cancel(c: pg.Client, q: pg.Query): void };
  canceller.cancel(client, query);
  return Promise.race([result, new Promise<string>((r) => setTimeout(() => r('not cancelled'), 10_000))]);
}

const verbose = (conn: string, sql: string) => run('psql', ['-X', '-A', '-t', '-v', 'VERBOSITY=verbose', '-c', sql, conn], { env: { PGPASSWORD: 'postgres' } });

describe('cancel in terminate mode', () => {
  for (const [route, extra] of [
    ['orders', {}],
    ['ledger', { channel_binding: 'disable' }],
  ] as const) {
    it(`psql Ctrl-C cancels a running pg_sleep (${route}: ${route === 'orders' ? 'plaintext' : 'TLS'} to the database)`, async () => {
      const before = await Metrics.fetch(proxy.adminPort);
      const statement = `select pg_sleep(30) /* ${route} */`;
      const psql = start('psql', ['-X', '-A', '-t', '-v', 'VERBOSITY=verbose', '-c', statement, libpq(host(route), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: platformCaFile, ...extra })], {
        PGPASSWORD: 'postgres',
      });
      await sleeping(`select pg_sleep(30) /* ${route} */%`);
      const sentAt = Date.now();
      psql.child.kill('SIGINT');
      const out = await psql.done;
      expect(out.stderr).toContain('Cancel request sent');
      expect(out.stderr).toContain('57014');
      expect(out.stderr).toContain('canceling statement due to user request');
      expect(out.code).not.toBe(0);
      // Not a timed assertion of speed: the statement would otherwise run for 30 s.
      expect(Date.now() - sentAt).toBeLessThan(25_000);
      const after = await Metrics.fetch(proxy.adminPort);
      expect(after.closed('postgres', 'cancel_forwarded') - before.closed('postgres', 'cancel_forwarded')).toBe(1);
    });
  }

  it('node-postgres cancels in plaintext with the key the proxy handed it', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: proxy.ports.postgres, ...login, ssl: { servername: host('orders'), ca: platformCa } });
    await client.connect();
    const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    // The key the client holds is not the backend's.
    expect((client as unknown as { processID: number }).processID).not.toBe(pid);
    expect(await sleepAndCancel(client, proxy.ports.postgres, 'node')).toBe('57014');
    expect((await client.query<{ v: number }>('select 1 as v')).rows[0]!.v).toBe(1);
    await client.end();
  });

  for (const [label, viaTls] of [
    ['in plaintext', false],
    ['over TLS with SNI', true],
  ] as const) {
    it(`protocol 3.2: a 32-byte proxy-minted key cancels ${label}`, async () => {
      const session: PgSession = await pgStartup(await starttls(host('ledger')), { ...login, protocolVersion: PG_PROTOCOL_3_2 });
      expect(session.key.secretKey).toHaveLength(32);
      const pid = Number((await session.query('select pg_backend_pid()'))[0]![0]);
      expect(session.key.processId).not.toBe(pid);
      const tag = viaTls ? 'tls' : 'plain';
      const result = session.query(`select pg_sleep(30), '${tag}'`).then(
        (rows) => rows,
        (err: unknown) => err,
      );
      await sleeping(`select pg_sleep(30), '${tag}'%`);
      const request = buildCancelRequest(session.key.processId, session.key.secretKey);
      if (viaTls) {
        const t = await starttls(host('ledger'));
        t.end(request);
        await once(t, 'close');
      } else {
        const c = await RawClient.open(proxy.ports.postgres);
        c.send(request);
        // Never answered, as PostgreSQL answers no CancelRequest.
        expect(await c.closed).toEqual(Buffer.alloc(0));
      }
      const err = await result;
      expect(err).toBeInstanceOf(PgError);
      expect((err as PgError).fields.C).toBe('57014');
      expect(await session.query('select 5')).toEqual([['5']]);
      session.close();
    });
  }

  it('an unknown key is closed without an answer and cancels nothing', async () => {
    const before = await Metrics.fetch(proxy.adminPort);
    const session = await pgStartup(await starttls(host('orders')), { ...login, protocolVersion: PG_PROTOCOL_3_0 });
    const result = session.query("select pg_sleep(1), 'finished'");
    const c = await RawClient.open(proxy.ports.postgres);
    c.send(buildCancelRequest(session.key.processId, Buffer.alloc(4, 0x42)));
    expect(await c.closed).toEqual(Buffer.alloc(0));
    expect(await result).toEqual([['', 'finished']]);
    const after = await Metrics.fetch(proxy.adminPort);
    expect(after.closed('postgres', 'cancel_unknown_key') - before.closed('postgres', 'cancel_unknown_key')).toBe(1);
    session.close();
  });
});

describe('cancel in cluster mode (PROXY_WORKERS=2)', () => {
  let cluster: ProxyProcess;
  beforeAll(async () => {
    cluster = await startProxyProcess(db.url, { SWITCHYARD_KEYS: KEYS, PROXY_WORKERS: '2', PROXY_CLUSTER_SCHEDULING: 'rr' });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('a plaintext cancel that lands on the other worker is relayed to the worker that minted the key', async () => {
    const before = await Metrics.fetch(cluster.adminPort);
    // Connections alternate between the two workers (SCHED_RR), so each session's cancel —
    // the next connection — reaches the other worker; two rounds in case anything interleaves.
    for (const round of [1, 2]) {
      const s = cluster.ports.postgres;
      const socket = await tcp(s);
      socket.write(buildSslRequest());
      const [b] = (await once(socket, 'data')) as [Buffer];
      expect(b.toString()).toBe('S');
      const t = tlsConnect({ socket, servername: host('orders'), ca: platformCa });
      await once(t, 'secureConnect');
      const session = await pgStartup(t, { ...login, protocolVersion: PG_PROTOCOL_3_2 });
      const result = session.query(`select pg_sleep(30), 'cluster ${round}'`).then(
        (rows) => rows,
        (err: unknown) => err,
      );
      await sleeping(`select pg_sleep(30), 'cluster ${round}'%`);
      const c = await RawClient.open(s);
      c.send(buildCancelRequest(session.key.processId, session.key.secretKey));
      expect(await c.closed).toEqual(Buffer.alloc(0));
      const err = await result;
      expect(err).toBeInstanceOf(PgError);
      expect((err as PgError).fields.C).toBe('57014');
      session.close();
    }
    const after = await Metrics.fetch(cluster.adminPort);
    expect(after.closed('postgres', 'cancel_forwarded_to_worker') - before.closed('postgres', 'cancel_forwarded_to_worker')).toBeGreaterThanOrEqual(1);
  });
});

describe('clients without SNI in terminate mode (endpoint option)', () => {
  /** libpq without SNI: host is an IP, sslsni=0; verify-ca against the default certificate's CA. */
  const noSni = (extra: string) => `host=127.0.0.1 port=${proxy.ports.postgres} user=postgres dbname=postgres sslmode=verify-ca sslrootcert=${testCaFile} sslsni=0 connect_timeout=10 ${extra}`;

  it('psql with sslsni=0 and options=endpoint=orders.acme reaches its database; other switches still apply', async () => {
    const out = await verbose(noSni("options='-c search_path=from_options endpoint=orders.acme'"), "select 'ok:' || current_setting('search_path')");
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe('ok:from_options');
    // URI form, with the full host name.
    const uri = `postgresql://postgres@127.0.0.1:${proxy.ports.postgres}/postgres?sslmode=verify-ca&sslrootcert=${encodeURIComponent(testCaFile)}&sslsni=0&options=endpoint%3D${host('ledger')}&channel_binding=disable`;
    const viaUri = await verbose(uri, "select 'ok:' || ssl::text from pg_stat_ssl where pid = pg_backend_pid()");
    expect(viaUri.stderr).toBe('');
    expect(viaUri.stdout.trim()).toBe('ok:true');
  });

  it('node-postgres dialling an IP (no SNI) with options', async () => {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: proxy.ports.postgres,
      ...login,
      options: 'endpoint=orders.acme',
      ssl: { ca: testCa().certPem, checkServerIdentity: () => undefined },
    });
    await client.connect();
    expect((await client.query<{ v: number }>('select 11 as v')).rows[0]!.v).toBe(11);
    await client.end();
  });

  it('no SNI and no endpoint option: psql shows ErrorResponse 08004 with the fixes', async () => {
    const out = await verbose(noSni(''), 'select 1');
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain('FATAL:  Switchyard: no database named: the client sent no TLS server name (SNI) and no endpoint option');
    expect(out.stderr).toContain('sslsni=1');
    expect(out.stderr).toContain('options=endpoint=<database>.<tenant>');
    const err = await connectError({ ssl: { ca: testCa().certPem, checkServerIdentity: () => undefined } });
    expect(err.code).toBe('08004');
    expect(err.hint).toContain('sslsni=1');
  });

  it('SNI and endpoint option that disagree are refused', async () => {
    const out = await verbose(libpq(host('orders'), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: platformCaFile, options: 'endpoint=ledger.acme' }), 'select 1');
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain('FATAL:  Switchyard: the endpoint option names another database than the TLS server name');
    const err = await connectError({ options: 'endpoint=ledger.acme', ssl: { servername: host('orders'), ca: platformCa } });
    expect(err.code).toBe('08004');
    const agree = await verbose(libpq(host('orders'), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: platformCaFile, options: 'endpoint=orders.acme' }), 'select 2');
    expect(agree.stderr).toBe('');
    expect(agree.stdout.trim()).toBe('2');
  });
});

describe('refusals before handover reach psql as ErrorResponses inside TLS', () => {
  const cases: Array<[string, string, string, RegExp]> = [
    ['closed', '08004', 'external access to this database is disabled', /HINT:.*enable it again/],
    ['fenced', '08004', 'your address is not allowed to reach this database', /HINT:.*allowlist/],
    ['gone', '08001', 'the database server is not reachable', /HINT:.*retry/],
  ];
  for (const [route, sqlstate, message, hint] of cases) {
    it(`${route}: ${sqlstate} ${message}`, async () => {
      const out = await verbose(libpq(host(route), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: platformCaFile }), 'select 1');
      expect(out.code).not.toBe(0);
      expect(out.stderr).toContain(`FATAL:  Switchyard: ${message}`);
      expect(out.stderr).toMatch(hint);
      expect(out.stderr).not.toMatch(/at .*\.ts:\d+|Error: /);
      const err = await connectError({ ssl: { servername: host(route), ca: platformCa } });
      expect(err.code).toBe(sqlstate);
      expect(err.message).toBe(`Switchyard: ${message}`);
      // libpq's default sslmode=prefer retries in plaintext after the error inside TLS; the
      // retry is told the same reason rather than "TLS required".
      const prefer = await verbose(libpq(host(route), proxy.ports.postgres), 'select 1');
      expect(prefer.code).not.toBe(0);
      expect(prefer.stderr).not.toContain('requires TLS');
      expect(prefer.stderr.split(`Switchyard: ${message}`).length - 1).toBeGreaterThanOrEqual(1);
    });
  }
});

describe('upstreamServerName: the name the TLS leg to the database sends and verifies', () => {
  it('an upstream reached by IP address is verified against the name: psql gets its session', async () => {
    const out = await run('psql', [libpq(host('named'), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: platformCaFile, channel_binding: 'disable' }), '-Atc', 'select 1'], { env: { PGPASSWORD: 'postgres' } });
    expect(out.stdout.trim(), out.stderr).toBe('1');
  });

  it('a name the database certificate does not carry is refused before the session, as a certificate failure', async () => {
    const out = await verbose(libpq(host('misnamed'), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: platformCaFile }), 'select 1');
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain("certificate failed verification against the route's upstream CA");
    const err = await connectError({ ssl: { servername: host('misnamed'), ca: platformCa } });
    expect(err.code).toBe('08001');
  });
});

describe('direct TLS (sslnegotiation=direct, ALPN postgresql) in terminate mode', () => {
  it('node-postgres sslnegotiation=direct', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: proxy.ports.postgres, ...login, ssl: { servername: host('orders'), ca: platformCa }, sslnegotiation: 'direct' });
    await client.connect();
    expect((await client.query<{ v: number }>('select 17 as v')).rows[0]!.v).toBe(17);
    await client.end();
  });

  it('on the tls listener, node-postgres (direct TLS) cancels in plaintext to the same port', async () => {
    // A client given the tls listener's connection string (sslnegotiation=direct) sends its
    // cancel there too, in plaintext — node-postgres, and libpq's PQcancel (psql's Ctrl-C).
    // The tls listener used to close it unread, so the query ran on.
    const created = await api.call('POST', '/api/v1/tenants/acme/databases', { name: 'direct', engine: 'postgres', upstream: { host: '127.0.0.1', port: postgres.port } }, token);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const a = await access('direct', { enabled: true, tlsMode: 'terminate', upstreamTls: false, listener: 'tls' });
    expect(a.body.port).toBe(proxy.ports.tls);
    const client = new pg.Client({ host: '127.0.0.1', port: proxy.ports.tls, ...login, ssl: { servername: host('direct'), ca: platformCa }, sslnegotiation: 'direct' });
    await client.connect();
    expect(await sleepAndCancel(client, proxy.ports.tls, 'tls listener')).toBe('57014');
    await client.end();
    expect((await access('direct', { enabled: false })).status).toBe(200);
  });

  it('the longest StartupMessage PostgreSQL accepts (10,004 bytes: 10,000 after the length word) reaches a session', async () => {
    // 50 bytes of header, user, database and the options name around the value.
    const options = `-c search_path=${'x'.repeat(10004 - 50 - 15)}`;
    const s = await pgStartup(await starttls(host('orders')), { ...login, protocolVersion: PG_PROTOCOL_3_0, extra: { options } });
    expect(await s.query("select length(current_setting('search_path'))")).toEqual([[String(options.length - 15)]]);
    s.close();
  });

  it('a raw client with ALPN postgresql, and one offering no ALPN, run protocol 3.2 sessions', async () => {
    for (const alpn of [['postgresql'], undefined]) {
      const t = tlsConnect({ socket: await tcp(proxy.ports.postgres), servername: host('orders'), ca: platformCa, ALPNProtocols: alpn });
      await once(t, 'secureConnect');
      expect(t.alpnProtocol).toBe(alpn ? 'postgresql' : false);
      const s = await pgStartup(t, { ...login, protocolVersion: PG_PROTOCOL_3_2 });
      expect(s.key.secretKey).toHaveLength(32);
      expect(await s.query('select 18')).toEqual([['18']]);
      s.close();
    }
  });
});

// The proxy stops (SIGTERM) with sessions open past its drain deadline: each is told why at a
// message boundary of the server's stream (docs/proxy.md "Shutdown").
describe.each(['1', '2'])('the drain deadline in terminate mode (PROXY_WORKERS=%s)', (workers) => {
  it('an idle psql, a psql in the middle of a COPY and node-postgres in the middle of a result set read FATAL 57P01', async () => {
    const p = await startProxyProcess(db.url, { SWITCHYARD_KEYS: KEYS, PROXY_DRAIN_TIMEOUT_MS: '1000', PROXY_AUDIT_FLUSH_MS: '60000', PROXY_WORKERS: workers });
    const conn = (route: string, extra: Record<string, string> = {}) => libpq(host(route), p.ports.postgres, { sslmode: 'verify-full', sslrootcert: platformCaFile, ...extra });
    const idle = psqlSession(conn('orders'));
    expect(await idle.query('select 1')).toBe('1');
    // ~5 GB through COPY TO STDOUT (TLS to the database on this route): still streaming at the deadline.
    const copy = start('psql', ['-X', '-c', "\\copy (select repeat('x', 1000) from generate_series(1, 5000000)) to '/dev/null'", conn('ledger', { channel_binding: 'disable' })], { PGPASSWORD: 'postgres' });
    const client = new pg.Client({ host: '127.0.0.1', port: p.ports.postgres, ...login, ssl: { servername: host('orders'), ca: platformCa } });
    client.on('error', () => {}); // the lost connection after the ErrorResponse
    await client.connect();
    const q = client.query(new pg.Query("select repeat('y', 1000) from generate_series(1, 5000000)"));
    q.on('row', () => {}); // rows counted by nobody, kept by nobody
    const queryError = new Promise<{ code?: string; message: string }>((resolve) => q.once('error', resolve));
    await new Promise((resolve) => q.once('row', resolve));
    const w = await watcher();
    try {
      while ((await w.query("select 1 from pg_stat_activity where query like 'COPY %generate_series%' and state = 'active'")).rowCount === 0);
    } finally {
      await w.end();
    }

    const exit = once(p.child, 'exit') as Promise<[number | null, string | null]>;
    p.child.kill('SIGTERM');
    const [code] = await exit;
    expect(code, p.output()).toBe(0);
    expect(p.output()).toContain('drain deadline reached');

    const message = 'Switchyard: the proxy is shutting down; reconnect';
    expect(await queryError).toMatchObject({ code: '57P01', message });
    const copied = await copy.done;
    expect(copied.code).not.toBe(0);
    expect(copied.stderr).toContain(`FATAL:  ${message}`);
    // psql at its prompt finds the message when it next uses the connection.
    await expect(idle.query('select 2')).rejects.toThrow(/psql exited/);
    const idleExit = await idle.exited;
    expect(idleExit.stderr).toContain(`FATAL:  ${message}`);
    expect(idleExit.stderr).toContain('HINT:  The proxy that carried this session is stopping');
    const events = new pg.Client({ connectionString: db.url });
    await events.connect();
    try {
      const r = await events.query<{ outcome: string; reason: string }>('select outcome, reason from connection_events where proxy_id = $1', [`e2e-${p.adminPort}`]);
      expect(r.rows).toEqual(Array.from({ length: 3 }, () => ({ outcome: 'ok', reason: 'proxy_shutdown' })));
    } finally {
      await events.end();
    }
  });
});
