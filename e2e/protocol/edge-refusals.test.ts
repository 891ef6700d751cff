/**
 * What real clients read when the proxy refuses them at its edge, for the refusals the other
 * files do not reach: an upstream that is down behind a passthrough PostgreSQL route (psql's
 * sslmode=prefer retry must say so, not "TLS with SNI required"), and behind terminate-mode
 * routes of other engines (redis-cli, openssl s_client and curl must read why in their own
 * protocol inside TLS — a RESP error, an HTTP 502 — not a bare close; tls-engines.test.ts has
 * the rest), and a terminate-mode PostgreSQL route whose server answers 'S' and then
 * stalls the TLS handshake (the client must be told the database failed, not its own
 * network). Routes are written straight into the control database before the proxy
 * process starts, so its first table has them.
 *
 * Also: a database that refuses TLS (the local PostgreSQL, ssl = off) behind a passthrough and
 * a terminate-mode route — each hint names the fix that applies to its mode; the ALPN a
 * terminate-mode route with a plaintext upstream selects (http/1.1 for HTTP only, nothing for
 * Redis); psql pointed at the tls port; a terminate order, or a route disabled with `close`,
 * reaching a session that is not handed over yet (the client is told in its protocol — psql,
 * redis-cli, curl, kubectl — not just closed); one connect deadline for TCP, 'S' and the
 * upstream TLS handshake together; and texts worded for the client's engine (no "database
 * server" for redis-cli or curl).
 */
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ControlDb, createTestDatabase, TEST_KEYS, testCa, testCert, until, type TestDatabase } from '@switchyard/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../support/raw.js';
import { BASE_DOMAIN, startProxyProcess, type ProxyProcess } from '../support/stack.js';
import { libpq, run, type RunResult } from '../support/tools.js';
import { tempDir } from '../support/upstreams.js';

const host = (name: string) => `${name}.acme.${BASE_DOMAIN}`;
let db: TestDatabase;
let control: ControlDb;
let proxy: ProxyProcess;
let caFile: string;
/** The upstream's port: never shown to clients. */
let deadPort: number;
const routeIds: Record<string, string> = {};
/** A "database" that answers SSLRequest with 'S' and then never speaks TLS. */
let stall: Server;
const stalled: Socket[] = [];
/** Resolves at the next connection the stalling database accepts. */
let nextStalled: Promise<Socket>;
let onStalled: (s: Socket) => void;
function armStalled(): void {
  nextStalled = new Promise<Socket>((r) => (onStalled = r));
}

const psql = (conn: string) => run('psql', ['-X', '-A', '-t', '-c', 'select 1', conn], { env: { PGPASSWORD: 'postgres' } });
/** The local PostgreSQL (ssl = off: it answers SSLRequest with N) and Redis (plaintext). */
const LOCAL_PG = { host: '127.0.0.1', port: 5432 };
const LOCAL_REDIS = { host: '127.0.0.1', port: 6379 };
/** A plaintext HTTP/1.1 upstream. */
let web: HttpServer;
/**
 * A "database" that answers SSLRequest with 'S' only after 3 s, then never speaks TLS: the
 * connect deadline must cover both steps together.
 */
let slowStall: Server;
/** A "database" that accepts TCP and never answers (the dial stays in progress). */
let silent: Server;
const silenced: Socket[] = [];
let onSilenced: () => void = () => {};

beforeAll(async () => {
  db = await createTestDatabase();
  control = new ControlDb(db.url);
  const dir = tempDir('sy-e2e-edge-');
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, testCa().certPem);
  // A port nothing listens on: the upstream is down.
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  deadPort = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const down = { host: '127.0.0.1', port: deadPort };
  await control.putRoute({ database: 'gone', engine: 'postgres', upstream: down, hostname: host('gone'), listener: 'postgres' });
  await control.putRoute({ database: 'off', engine: 'postgres', upstream: down, hostname: host('off'), listener: 'postgres', enabled: false });
  for (const [name, engine] of [['cachegone', 'redis'], ['webgone', 'http']] as const) {
    await control.putRoute({ database: name, engine, upstream: down, hostname: host(name), listener: 'tls', tlsMode: 'terminate', certificate: testCert([host(name)]), upstreamTls: false });
  }
  armStalled();
  stall = createServer((s) => {
    stalled.push(s);
    s.on('error', () => {});
    s.once('data', () => {
      s.write('S');
      onStalled(s);
    });
  });
  await new Promise<void>((r) => stall.listen(0, '127.0.0.1', r));
  for (const name of ['stall', 'stallclose']) {
    const { routeId } = await control.putRoute({
      database: name,
      engine: 'postgres',
      upstream: { host: '127.0.0.1', port: (stall.address() as AddressInfo).port },
      hostname: host(name),
      listener: 'postgres',
      tlsMode: 'terminate',
      certificate: testCert([host(name)]),
      upstreamTls: true,
      disableBehavior: 'close',
    });
    routeIds[name] = routeId;
  }
  const { routeId: stallTerm } = await control.putRoute({
    database: 'stallterm',
    engine: 'postgres',
    upstream: { host: '127.0.0.1', port: (stall.address() as AddressInfo).port },
    hostname: host('stallterm'),
    listener: 'postgres',
    tlsMode: 'terminate',
    certificate: testCert([host('stallterm')]),
    upstreamTls: true,
  });
  routeIds.stallterm = stallTerm;
  silent = createServer((s) => {
    silenced.push(s);
    s.on('error', () => {});
    onSilenced();
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const silentUp = { host: '127.0.0.1', port: (silent.address() as AddressInfo).port };
  // Terminate-mode routes of other engines whose upstream accepts TCP and never answers TLS:
  // their dial lasts until the connect deadline, time for an order or a route change to come.
  for (const [name, engine, disableBehavior] of [
    ['cacheorder', 'redis', 'drain'],
    ['weborder', 'tls', 'drain'],
    ['kubeorder', 'kubernetes-api', 'drain'],
    ['cacheclose', 'redis', 'close'],
    ['webclose', 'tls', 'close'],
  ] as const) {
    const { routeId } = await control.putRoute({ database: name, engine, upstream: silentUp, hostname: host(name), listener: 'tls', tlsMode: 'terminate', certificate: testCert([host(name)]), upstreamTls: true, disableBehavior });
    routeIds[name] = routeId;
  }
  slowStall = createServer((s) => {
    stalled.push(s);
    s.on('error', () => {});
    s.once('data', () => {
      const t = setTimeout(() => s.write('S'), 3000);
      s.once('close', () => clearTimeout(t));
    });
  });
  await new Promise<void>((r) => slowStall.listen(0, '127.0.0.1', r));
  await control.putRoute({
    database: 'slowstall',
    engine: 'postgres',
    upstream: { host: '127.0.0.1', port: (slowStall.address() as AddressInfo).port },
    hostname: host('slowstall'),
    listener: 'postgres',
    tlsMode: 'terminate',
    certificate: testCert([host('slowstall')]),
    upstreamTls: true,
  });
  await control.putRoute({ database: 'silentpass', engine: 'postgres', upstream: { host: '127.0.0.1', port: (silent.address() as AddressInfo).port }, hostname: host('silentpass'), listener: 'postgres' });
  const { routeId: silentClose } = await control.putRoute({ database: 'silentclose', engine: 'postgres', upstream: { host: '127.0.0.1', port: (silent.address() as AddressInfo).port }, hostname: host('silentclose'), listener: 'postgres', disableBehavior: 'close' });
  routeIds.silentclose = silentClose;
  // A database without TLS, behind each mode.
  await control.putRoute({ database: 'notls', engine: 'postgres', upstream: LOCAL_PG, hostname: host('notls'), listener: 'postgres' });
  await control.putRoute({ database: 'notlsterm', engine: 'postgres', upstream: LOCAL_PG, hostname: host('notlsterm'), listener: 'postgres', tlsMode: 'terminate', certificate: testCert([host('notlsterm')]), upstreamTls: true });
  // Terminate mode, plaintext upstreams: Redis and HTTP.
  web = createHttpServer((req, res) => res.end(`hello over http/${req.httpVersion}`));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  await control.putRoute({ database: 'cachealpn', engine: 'redis', upstream: LOCAL_REDIS, hostname: host('cachealpn'), listener: 'tls', tlsMode: 'terminate', certificate: testCert([host('cachealpn')]), upstreamTls: false });
  await control.putRoute({
    database: 'webalpn',
    engine: 'http',
    upstream: { host: '127.0.0.1', port: (web.address() as AddressInfo).port },
    hostname: host('webalpn'),
    listener: 'tls',
    tlsMode: 'terminate',
    certificate: testCert([host('webalpn')]),
    upstreamTls: false,
  });
  // The upstream connect deadline (one for TCP, 'S' and TLS together) inside the client's
  // handshake deadline, and long enough for a terminate order to reach a session still
  // dialling; two of them (the old TLS deadline of its own) would not fit.
  proxy = await startProxyProcess(db.url, { SWITCHYARD_KEYS: TEST_KEYS, PROXY_CONNECT_TIMEOUT_MS: '4000', PROXY_HANDSHAKE_TIMEOUT_MS: '6000' });
});

afterAll(async () => {
  await proxy?.stop();
  for (const s of [...stalled, ...silenced]) s.destroy();
  await new Promise<void>((r) => (stall ? stall.close(() => r()) : r()));
  await new Promise<void>((r) => (silent ? silent.close(() => r()) : r()));
  await new Promise<void>((r) => (slowStall ? slowStall.close(() => r()) : r()));
  await new Promise<void>((r) => (web ? web.close(() => r()) : r()));
  await control?.close();
  await db?.drop();
});

describe('psql to a passthrough route whose database is down', () => {
  // First in the file: no TLS refusal of this address is remembered yet.
  it('a hello refused on the tls listener does not explain a later plaintext psql on the postgres listener', async () => {
    const curl = await run('curl', ['-sS', '--resolve', `${host('nowhere')}:${proxy.ports.tls}:127.0.0.1`, `https://${host('nowhere')}:${proxy.ports.tls}/`, '--cacert', caFile]);
    expect(curl.stderr).toMatch(/unrecognized name/);
    // libpq never retries a hello sent elsewhere in plaintext here: this client is told what it
    // needs, not the name and refusal of another client's connection from the same address.
    const plain = await psql(libpq(host('gone'), proxy.ports.postgres, { sslmode: 'disable' }));
    expect(plain.stderr).toContain('requires TLS with SNI');
    expect(plain.stderr).not.toContain(host('nowhere'));
  });

  it('sslmode=require reads the TLS alert; the sslmode=prefer retry is told the server is unreachable, not to use TLS', async () => {
    const strict = await psql(libpq(host('gone'), proxy.ports.postgres, { sslmode: 'require' }));
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toMatch(/alert internal error/);
    // libpq's default: after the alert it retries in plaintext; that retry cannot be routed,
    // and must explain the TLS attempt's refusal. It said "requires TLS with SNI" — to a
    // client that had just sent both.
    const prefer = await psql(libpq(host('gone'), proxy.ports.postgres));
    expect(prefer.code).not.toBe(0);
    expect(prefer.stderr).toContain('FATAL:  Switchyard: the database server is not reachable');
    expect(prefer.stderr).toContain(`DETAIL:  Host name: ${host('gone')}.`);
    expect(prefer.stderr).toContain('HINT:  The database may be down or restarting');
    expect(prefer.stderr).not.toContain('requires TLS with SNI');
    expect(prefer.stderr).not.toContain(String(deadPort));
    const m = await Metrics.fetch(proxy.adminPort);
    expect(m.closed('postgres', 'upstream_unreachable')).toBeGreaterThanOrEqual(2);
  });

  it('a pool of psql clients opening at once from one address: every plaintext retry explains its refusal', async () => {
    // Twelve clients, each a TLS attempt (refused: access disabled) then libpq's plaintext
    // retry, all from 127.0.0.1 at once. One memory per address explained the first retry and
    // told the others "requires TLS with SNI" (7 of 12 in a run before the fix).
    const runs = await Promise.all(Array.from({ length: 12 }, () => psql(libpq(host('off'), proxy.ports.postgres))));
    for (const r of runs) {
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('SSL error: tlsv1 unrecognized name');
      expect(r.stderr).toContain('FATAL:  Switchyard: external access to this database is disabled');
      expect(r.stderr).not.toContain('requires TLS with SNI');
    }
  });
});

describe('terminate-mode routes of other engines whose upstream is down', () => {
  // First a TLS alert (internal_error) replaced the bare close; now the proxy, which holds the
  // route's certificate, completes TLS and answers in the client's protocol.
  it('redis-cli --tls --sni reads an ERR reply naming the reason, not a bare close or an alert', async () => {
    const r = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', host('cachegone'), '--cacert', caFile, 'PING']);
    expect(r.stdout + r.stderr).toContain('ERR Switchyard: the Redis server is not reachable');
    expect(r.stdout + r.stderr).not.toMatch(/unexpected eof|alert internal error/);
  });

  it('openssl s_client -servername completes TLS with the route certificate and reads the RESP error', async () => {
    const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${proxy.ports.tls}`, '-servername', host('cachegone'), '-CAfile', caFile, '-quiet'], { input: 'PING\r\n' });
    expect(r.stdout).toContain('-ERR Switchyard: the Redis server is not reachable');
    expect(r.stdout).not.toContain(String(deadPort));
  });

  it('curl --resolve reads 502 Bad Gateway with the reason', async () => {
    const r = await run('curl', ['-sS', '-i', '--resolve', `${host('webgone')}:${proxy.ports.tls}:127.0.0.1`, `https://${host('webgone')}:${proxy.ports.tls}/`, '--cacert', caFile]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(r.stdout).toContain('Switchyard: the upstream server is not reachable');
    expect(r.stdout).not.toMatch(/database/i);
    expect(r.stdout).not.toContain(String(deadPort));
    const m = await Metrics.fetch(proxy.adminPort);
    expect(m.closed('tls', 'upstream_unreachable')).toBeGreaterThanOrEqual(3);
  });
});

describe('terminate mode: the database server stalls its TLS handshake', () => {
  it('psql reads "TLS to the database server failed" at the connect deadline, not a handshake timeout blamed on its network', async () => {
    const r = await psql(libpq(host('stall'), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: caFile }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FATAL:  Switchyard: TLS to the database server failed');
    expect(r.stderr).not.toContain('not completed in time');
    expect(stalled.length).toBeGreaterThan(0);
    const m = await Metrics.fetch(proxy.adminPort);
    expect(m.closed('postgres', 'upstream_tls_failed')).toBe(1);
    expect(m.closed('postgres', 'handshake_timeout')).toBe(0);
  });
});

describe('terminate mode: one connect deadline from the TCP connect to a usable upstream', () => {
  it("a database answering 'S' late and then stalling TLS fails at the connect deadline, not at the client's handshake deadline", async () => {
    // 'S' after 3 s, then no TLS. With a second 4 s deadline for the TLS handshake alone the
    // dial would have lasted 7 s and run into the client's 6 s handshake deadline: psql read
    // "TLS handshake not completed in time", blamed on its own network.
    const before = await Metrics.fetch(proxy.adminPort);
    const r = await psql(libpq(host('slowstall'), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: caFile }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FATAL:  Switchyard: TLS to the database server failed');
    expect(r.stderr).not.toContain('not completed in time');
    const after = await Metrics.fetch(proxy.adminPort);
    expect(after.closed('postgres', 'upstream_tls_failed') - before.closed('postgres', 'upstream_tls_failed')).toBe(1);
    expect(after.closed('postgres', 'handshake_timeout') - before.closed('postgres', 'handshake_timeout')).toBe(0);
  });
});

describe('terminate mode: a route disabled (close) while its session is still being set up', () => {
  it('psql reads "external access to this database is disabled" rather than a lost connection', async () => {
    const before = await Metrics.fetch(proxy.adminPort);
    armStalled();
    const client = psql(libpq(host('stallclose'), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: caFile }));
    // The proxy has read the StartupMessage, admitted the session and is dialling the database.
    await nextStalled;
    await control.setEnabled(routeIds.stallclose!, false);
    const r = await client;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FATAL:  Switchyard: external access to this database is disabled');
    expect(r.stderr).not.toMatch(/SSL SYSCALL|EOF detected|closed the connection unexpectedly/);
    const after = await Metrics.fetch(proxy.adminPort);
    expect(after.closed('postgres', 'route_disabled') - before.closed('postgres', 'route_disabled')).toBe(1);
    expect(after.closed('postgres', 'upstream_tls_failed') - before.closed('postgres', 'upstream_tls_failed')).toBe(0);
  });
});

describe('passthrough: a route disabled (close) while its database is being dialled', () => {
  it("psql reads the unrecognized_name alert and its sslmode=prefer retry is told the route is disabled (was a bare close: 'SSL SYSCALL error')", async () => {
    const before = await Metrics.fetch(proxy.adminPort);
    const dialled = new Promise<void>((r) => (onSilenced = r));
    const client = psql(libpq(host('silentclose'), proxy.ports.postgres));
    await dialled;
    await control.setEnabled(routeIds.silentclose!, false);
    const r = await client;
    onSilenced = () => {};
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('SSL error: tlsv1 unrecognized name');
    expect(r.stderr).toContain('FATAL:  Switchyard: external access to this database is disabled');
    expect(r.stderr).not.toMatch(/SSL SYSCALL|EOF detected|requires TLS with SNI/);
    const after = await Metrics.fetch(proxy.adminPort);
    expect(after.closed('postgres', 'route_disabled') - before.closed('postgres', 'route_disabled')).toBe(1);
    expect(after.closed('postgres', 'client_left_during_handshake') - before.closed('postgres', 'client_left_during_handshake')).toBe(0);
  });
});

describe('a database that does not accept TLS (answers SSLRequest with N)', () => {
  it('passthrough: the sslmode=prefer retry says the server itself must accept TLS, not to set upstreamTls', async () => {
    const r = await psql(libpq(host('notls'), proxy.ports.postgres));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/alert internal error/);
    expect(r.stderr).toContain('FATAL:  Switchyard: the database server does not accept TLS');
    expect(r.stderr).toContain(`DETAIL:  Host name: ${host('notls')}.`);
    expect(r.stderr).toContain('HINT:  This database is exposed in TLS passthrough mode');
    expect(r.stderr).toContain('enable TLS on the server (ssl = on)');
    // upstreamTls is a terminate-mode setting: it cannot help a passthrough route.
    expect(r.stderr).not.toContain('set upstreamTls to false');
    const m = await Metrics.fetch(proxy.adminPort);
    expect(m.closed('postgres', 'upstream_tls_refused_passthrough')).toBeGreaterThanOrEqual(1);
  });

  it('terminate mode with upstreamTls: psql reads the ErrorResponse inside TLS naming upstreamTls', async () => {
    const r = await psql(libpq(host('notlsterm'), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: caFile }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FATAL:  Switchyard: the database server does not accept TLS');
    expect(r.stderr).toContain('set upstreamTls to false');
    expect(r.stderr).not.toContain('passthrough mode');
    const m = await Metrics.fetch(proxy.adminPort);
    expect(m.closed('postgres', 'upstream_tls_refused')).toBe(1);
  });
});

describe('terminate mode with a plaintext upstream: the ALPN the client is given', () => {
  const sClient = (name: string, alpn: string) =>
    run('openssl', ['s_client', '-connect', `127.0.0.1:${proxy.ports.tls}`, '-servername', host(name), '-CAfile', caFile, '-alpn', alpn]);

  it('openssl s_client offering h2,http/1.1 to Redis is given no ALPN (not http/1.1); redis-cli --tls --sni works', async () => {
    const r = await sClient('cachealpn', 'h2,http/1.1');
    expect(r.stdout).toContain('Verify return code: 0 (ok)');
    expect(r.stdout).toContain('No ALPN negotiated');
    expect(r.stdout).not.toMatch(/ALPN protocol: /);
    const ping = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', host('cachealpn'), '--cacert', caFile, 'PING']);
    expect(ping.stdout.trim()).toBe('PONG');
  });

  it('an http route still gives http/1.1 (openssl s_client, curl --resolve), never h2', async () => {
    const r = await sClient('webalpn', 'h2,http/1.1');
    expect(r.stdout).toContain('ALPN protocol: http/1.1');
    const curl = await run('curl', ['-sS', '-v', '--http2', '--resolve', `${host('webalpn')}:${proxy.ports.tls}:127.0.0.1`, `https://${host('webalpn')}:${proxy.ports.tls}/`, '--cacert', caFile]);
    expect(curl.code).toBe(0);
    expect(curl.stderr).toMatch(/ALPN.*server accepted.*http\/1\.1/);
    expect(curl.stdout).toBe('hello over http/1.1');
  });
});

describe('psql pointed at the tls port', () => {
  it('sslmode=disable reads an ErrorResponse naming the PostgreSQL port, not "server closed the connection unexpectedly"', async () => {
    const r = await psql(libpq(host('gone'), proxy.ports.tls, { sslmode: 'disable' }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FATAL:  Switchyard: this port expects TLS from the first byte');
    expect(r.stderr).toContain(`DETAIL:  PostgreSQL clients use port ${proxy.ports.postgres} with SSLRequest`);
    expect(r.stderr).toContain('sslnegotiation=direct');
    expect(r.stderr).not.toContain('closed the connection unexpectedly');
  });

  it("sslmode=prefer (libpq's default): the SSLRequest is answered N, the plaintext retry reads the same error", async () => {
    const r = await psql(libpq(host('gone'), proxy.ports.tls));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FATAL:  Switchyard: this port expects TLS from the first byte');
    expect(r.stderr).not.toContain('closed the connection unexpectedly');
  });

  it('sslmode=require stops at the N: "server does not support SSL"', async () => {
    const r = await psql(libpq(host('gone'), proxy.ports.tls, { sslmode: 'require' }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('server does not support SSL, but SSL was required');
    const m = await Metrics.fetch(proxy.adminPort);
    expect(m.closed('tls', 'postgres_on_tls_port')).toBe(2);
  });
});

describe('a terminate order for a session not handed over yet', () => {
  /** Sends the order as the API does (NOTIFY; the order row is only the catch-up path). */
  /**
   * `ordered`: end every connection to `name` not in it (and add them), once the heartbeat
   * lists one; without it, the one connection to `name`.
   */
  async function terminate(name: string, ordered?: Set<string>): Promise<void> {
    const proxyId = `e2e-${proxy.adminPort}`;
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      // The heartbeat lists the connection (rewritten within 300 ms of a change).
      const { rows } = await until(
        () => client.query<{ id: string }>(`select c->>'id' as id from proxy_instances, jsonb_array_elements(connections) c where proxy_instances.id = $1 and c->>'sni' = $2`, [proxyId, host(name)]),
        (r) => (ordered ? r.rows.some((row) => !ordered.has(row.id)) : r.rows.length === 1),
        `${name} in the heartbeat`,
        3000,
      );
      for (const { id } of rows) {
        if (ordered?.has(id)) continue;
        ordered?.add(id);
        await client.query('select pg_notify($1, $2)', ['switchyard_control', JSON.stringify({ op: 'terminate', proxyId, connectionId: id, by: 'user:admin@example.test' })]);
      }
    } finally {
      await client.end();
    }
  }

  it('terminate mode, the database being dialled: psql reads FATAL 57P01 "terminating connection due to administrator command"', async () => {
    const before = await Metrics.fetch(proxy.adminPort);
    armStalled();
    const client = psql(libpq(host('stallterm'), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: caFile }));
    await nextStalled;
    await terminate('stallterm');
    const r = await client;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FATAL:  Switchyard: terminating connection due to administrator command');
    expect(r.stderr).not.toMatch(/SSL SYSCALL|EOF detected|closed the connection unexpectedly/);
    const after = await Metrics.fetch(proxy.adminPort);
    expect(after.closed('postgres', 'terminated') - before.closed('postgres', 'terminated')).toBe(1);
    expect(after.closed('postgres', 'upstream_tls_failed') - before.closed('postgres', 'upstream_tls_failed')).toBe(0);
  });

  // Before, each of these clients got a bare TLS alert (redis-cli: "SSL_connect failed: tlsv1
  // alert handshake failure", curl: "(35) … alert handshake failure"), unlike every other
  // refusal of these routes.
  it('terminate mode, other engines, the upstream being dialled: redis-cli, curl and kubectl read the order in their protocol', async () => {
    const before = await Metrics.fetch(proxy.adminPort);
    const cases: Array<{ name: string; client: () => Promise<RunResult>; check: (r: RunResult) => void }> = [
      {
        name: 'cacheorder',
        client: () => run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', host('cacheorder'), '--cacert', caFile, 'PING']),
        check: (r) => expect(r.stdout + r.stderr).toContain('ERR Switchyard: terminating connection due to administrator command'),
      },
      {
        name: 'weborder',
        client: () => run('curl', ['-sS', '-i', '--resolve', `${host('weborder')}:${proxy.ports.tls}:127.0.0.1`, `https://${host('weborder')}:${proxy.ports.tls}/`, '--cacert', caFile]),
        check: (r) => {
          expect(r.code).toBe(0);
          expect(r.stdout).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
          expect(r.stdout).toContain('Switchyard: terminating connection due to administrator command');
        },
      },
      {
        name: 'kubeorder',
        client: () =>
          run('kubectl', ['--server', `https://127.0.0.1:${proxy.ports.tls}`, '--tls-server-name', host('kubeorder'), '--certificate-authority', caFile, '--token', 'e2e', 'get', '--raw', '/api/v1/namespaces/default/pods'], {
            env: { KUBECONFIG: '/dev/null' },
          }),
        check: (r) => expect(r.stderr).toContain('Error from server (ServiceUnavailable): Switchyard: terminating connection due to administrator command'),
      },
    ];
    for (const c of cases) {
      // Every connection the client opens is ended by an order while its upstream is dialled
      // (kubectl opens two: its request and a /version probe).
      const ordered = new Set<string>();
      let orders = Promise.resolve();
      onSilenced = () => void (orders = orders.then(() => terminate(c.name, ordered)));
      const client = c.client();
      const r = await client;
      await orders;
      onSilenced = () => {};
      expect(ordered.size, c.name).toBeGreaterThanOrEqual(1);
      expect(r.stdout + r.stderr, c.name).not.toMatch(/alert handshake failure|SSL_connect failed|remote error: tls/);
      c.check(r);
    }
    const after = await Metrics.fetch(proxy.adminPort);
    expect(after.closed('tls', 'terminated') - before.closed('tls', 'terminated')).toBeGreaterThanOrEqual(3);
    expect(after.closed('tls', 'upstream_tls_failed') - before.closed('tls', 'upstream_tls_failed')).toBe(0);
  });

  it('terminate mode, other engines: a route disabled (close) while dialling answers "disabled" in the client protocol', async () => {
    const before = await Metrics.fetch(proxy.adminPort);
    let dialled = new Promise<void>((r) => (onSilenced = r));
    const redis = run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', host('cacheclose'), '--cacert', caFile, 'PING']);
    await dialled;
    await control.setEnabled(routeIds.cacheclose!, false);
    const r = await redis;
    expect(r.stdout + r.stderr).toContain('ERR Switchyard: external access to this Redis database is disabled');
    expect(r.stdout + r.stderr).not.toMatch(/SSL_connect failed|unexpected eof/);
    dialled = new Promise<void>((r) => (onSilenced = r));
    const curl = run('curl', ['-sS', '-i', '--resolve', `${host('webclose')}:${proxy.ports.tls}:127.0.0.1`, `https://${host('webclose')}:${proxy.ports.tls}/`, '--cacert', caFile]);
    await dialled;
    await control.setEnabled(routeIds.webclose!, false);
    const c = await curl;
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(c.stdout).toContain('Switchyard: external access to this service is disabled');
    const after = await Metrics.fetch(proxy.adminPort);
    expect(after.closed('tls', 'route_disabled') - before.closed('tls', 'route_disabled')).toBe(2);
  });

  it('passthrough, the database being dialled: a TLS alert, and the sslmode=prefer retry is told why', async () => {
    const dialled = new Promise<void>((r) => (onSilenced = r));
    const client = psql(libpq(host('silentpass'), proxy.ports.postgres));
    await dialled;
    await terminate('silentpass');
    const r = await client;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/alert handshake failure/);
    expect(r.stderr).toContain('FATAL:  Switchyard: terminating connection due to administrator command');
    expect(r.stderr).toContain(`DETAIL:  Host name: ${host('silentpass')}.`);
  });
});
