/**
 * PostgreSQL protocol corners through the real proxy (passthrough) to a real PostgreSQL 18:
 * GSSENCRequest then SSLRequest; direct TLS with ALPN `postgresql` (node-postgres
 * `sslnegotiation: 'direct'` and a raw client); protocol 3.2 and 3.9999 startup with
 * NegotiateProtocolVersion passed through byte for byte; cancelling a running pg_sleep over
 * a new TLS connection with SNI (3.0 and 3.2 keys); and a plaintext CancelRequest, which
 * cannot be routed in passthrough (no SNI) — the proxy closes it and the query runs on, which
 * is what psql's Ctrl-C gets (libpq's classic PQcancel is plaintext; only libpq 17's
 * PQcancelCreate API cancels over TLS, and no installed client uses it).
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { createTestDatabase, type TestDatabase } from '@switchyard/testkit';
import { buildCancelRequest, buildGssEncRequest, buildSslRequest, buildStartupMessage, parseBackendMessage, parseErrorFields, PG_PROTOCOL_3_0, PG_PROTOCOL_3_2 } from '@switchyard/wire';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgStartup, PgError, type PgSession } from '../support/pg-frontend.js';
import { Metrics, RawClient } from '../support/raw.js';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { libpq, start } from '../support/tools.js';
import { startTlsPostgres, type TlsPostgres } from '../support/upstreams.js';

const host = `orders.acme.${BASE_DOMAIN}`;
const PROTOCOL_3_9999 = (3 << 16) | 9999;
let db: TestDatabase;
let postgres: TlsPostgres;
let proxy: ProxyProcess;
let api: ApiServer;
let ca: string;

beforeAll(async () => {
  db = await createTestDatabase();
  postgres = await startTlsPostgres([host]);
  ca = readFileSync(postgres.caFile, 'utf8');
  proxy = await startProxyProcess(db.url);
  api = await startApi(db.url, proxy.ports);
  const token = await seedTenant(api);
  expect((await api.call('POST', '/api/v1/tenants/acme/databases', { name: 'orders', engine: 'postgres', upstream: { host: '127.0.0.1', port: postgres.port } }, token)).status).toBe(201);
  const r = await api.call('PUT', '/api/v1/tenants/acme/databases/orders/external-access?wait=true', { enabled: true, tlsMode: 'passthrough' }, token);
  expect(r.body.propagation.state).toBe('applied');
});

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  await postgres?.cleanup();
  await db?.drop();
});

async function tcp(port: number): Promise<Socket> {
  const s = netConnect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  return s;
}

async function readByte(s: Socket): Promise<string> {
  const [b] = (await once(s, 'data')) as [Buffer];
  return b.toString('latin1');
}

/** TLS over `socket` verifying the database's certificate for `host` (end to end). */
async function tls(socket: Socket, alpn?: string[]): Promise<TLSSocket> {
  const t = tlsConnect({ socket, servername: host, ca, ALPNProtocols: alpn });
  await once(t, 'secureConnect');
  return t;
}

/** SSLRequest → 'S' → TLS with SNI, through the proxy's postgres listener (or `port`). */
async function starttls(port = proxy.ports.postgres): Promise<TLSSocket> {
  const s = await tcp(port);
  s.write(buildSslRequest());
  expect(await readByte(s)).toBe('S');
  return tls(s);
}

const login = { user: 'postgres', password: 'postgres', database: 'postgres' };

describe('negotiation', () => {
  it('GSSENCRequest is refused with N, then SSLRequest, TLS and a query succeed', async () => {
    const s = await tcp(proxy.ports.postgres);
    s.write(buildGssEncRequest());
    expect(await readByte(s)).toBe('N');
    s.write(buildSslRequest());
    expect(await readByte(s)).toBe('S');
    const session = await pgStartup(await tls(s), { ...login, protocolVersion: PG_PROTOCOL_3_0 });
    expect(await session.query('select 1')).toEqual([['1']]);
    session.close();
  });

  it('on the tls port, libpq’s GSSENCRequest (gssencmode=prefer with a Kerberos ticket) gets N, then SSLRequest N, then its StartupMessage the error naming the postgres port', async () => {
    // The tls port used to close the connection on a GSSENCRequest, and libpq gave up with
    // "server closed the connection unexpectedly" before reaching the readable error.
    const s = await tcp(proxy.ports.tls);
    s.write(buildGssEncRequest());
    expect(await readByte(s)).toBe('N');
    s.write(buildSslRequest());
    expect(await readByte(s)).toBe('N');
    s.end(buildStartupMessage(login));
    const chunks: Buffer[] = [];
    for await (const c of s) chunks.push(c as Buffer);
    const r = parseBackendMessage(Buffer.concat(chunks));
    expect(r.status).toBe('ok');
    if (r.status !== 'ok') return;
    expect(r.value.type).toBe('E');
    expect(parseErrorFields(r.value.body)).toMatchObject({ C: '28000', M: expect.stringContaining('expects TLS from the first byte') });
  });

  it('direct TLS with ALPN postgresql reaches PostgreSQL 18, which negotiates ALPN itself (node-postgres sslnegotiation=direct)', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: proxy.ports.postgres, ...login, ssl: { servername: host, ca }, sslnegotiation: 'direct' });
    await client.connect();
    const r = await client.query('select current_setting($1) as v, ssl from pg_stat_ssl where pid = pg_backend_pid()', ['server_version_num']);
    expect(Number(r.rows[0].v)).toBeGreaterThanOrEqual(180000);
    expect(r.rows[0].ssl).toBe(true);
    await client.end();

    const raw = await tls(await tcp(proxy.ports.postgres), ['postgresql']);
    expect(raw.alpnProtocol).toBe('postgresql');
    const session = await pgStartup(raw, { ...login, protocolVersion: PG_PROTOCOL_3_2 });
    expect(await session.query('select 2')).toEqual([['2']]);
    session.close();
  });

  it('direct TLS without ALPN is refused with no_application_protocol, as PostgreSQL 17+ does (the server reached through SSLRequest could not tell)', async () => {
    const before = await Metrics.fetch(proxy.adminPort);
    const t = tlsConnect({ socket: await tcp(proxy.ports.postgres), servername: host, ca });
    const [err] = (await once(t, 'error')) as [Error];
    expect(err.message).toMatch(/no application protocol/i);
    const after = await Metrics.fetch(proxy.adminPort);
    expect(after.closed('postgres', 'alpn_required') - before.closed('postgres', 'alpn_required')).toBe(1);
  });

  it('direct TLS offering only another ALPN protocol is refused by PostgreSQL itself (the hello reaches it untouched)', async () => {
    // PostgreSQL's ALPN callback answers a client that offers ALPN without "postgresql"
    // with a fatal no_application_protocol alert (RFC 7301 §3.2).
    const t = tlsConnect({ socket: await tcp(proxy.ports.postgres), servername: host, ca, ALPNProtocols: ['http/1.1'] });
    const [err] = (await once(t, 'error')) as [Error];
    expect(err.message).toMatch(/no application protocol/i);
  });
});

describe('protocol versions', () => {
  /** Types and bodies of the server's startup messages, minus values that differ per connection. */
  const shape = (s: PgSession) =>
    s.reader.log.filter((m) => m.type !== 'K' && m.type !== 'R' && m.type !== 'S').map((m) => `${m.type}:${m.body.toString('hex')}`);

  it('3.2: no NegotiateProtocolVersion, a 32-byte cancel key (PostgreSQL 18)', async () => {
    const s = await pgStartup(await starttls(), { ...login, protocolVersion: PG_PROTOCOL_3_2 });
    expect(s.negotiated).toBeNull();
    expect(s.key.secretKey.length).toBe(32);
    expect(await s.query('select 3')).toEqual([['3']]);
    s.close();
  });

  it('3.9999 and unknown _pq_ options: NegotiateProtocolVersion reaches the client byte for byte as the server sent it', async () => {
    const opts = { ...login, protocolVersion: PROTOCOL_3_9999, extra: { '_pq_.switchyard_test': 'on' } };
    const via = await pgStartup(await starttls(), opts);
    const viaStartup = shape(via);
    expect(via.negotiated).toEqual({ newestVersion: PG_PROTOCOL_3_2, unrecognized: ['_pq_.switchyard_test'] });
    expect(await via.query('select 4')).toEqual([['4']]);
    // The same client straight to the database: the server's messages are identical.
    const direct = await pgStartup(await starttls(postgres.port), opts);
    expect(viaStartup).toEqual(shape(direct));
    via.close();
    direct.close();
  });

  it('3.0 with a _pq_ option: NegotiateProtocolVersion names 3.0 and the option', async () => {
    const s = await pgStartup(await starttls(), { ...login, protocolVersion: PG_PROTOCOL_3_0, extra: { '_pq_.other': 'x' } });
    expect(s.negotiated).toEqual({ newestVersion: PG_PROTOCOL_3_0, unrecognized: ['_pq_.other'] });
    expect(s.key.secretKey.length).toBe(4);
    s.close();
  });
});

describe('cancel', () => {
  /** Starts `select pg_sleep(60)` and resolves once the backend is inside it. */
  async function sleeping(protocolVersion: number): Promise<{ session: PgSession; result: Promise<unknown> }> {
    const session = await pgStartup(await starttls(), { ...login, protocolVersion });
    const result = session.query("select pg_sleep(60), 'not cancelled'").then(
      (rows) => rows,
      (err: unknown) => err,
    );
    const watcher = await pgStartup(await starttls(), { ...login, protocolVersion: PG_PROTOCOL_3_0 });
    while ((await watcher.query(`select count(*) from pg_stat_activity where pid = ${session.key.processId} and wait_event = 'PgSleep'`))[0]![0] !== '1');
    watcher.close();
    return { session, result };
  }

  for (const [label, version] of [['3.0 (4-byte key)', PG_PROTOCOL_3_0], ['3.2 (32-byte key)', PG_PROTOCOL_3_2]] as const) {
    it(`cancels a running pg_sleep over a new TLS connection with SNI, protocol ${label}`, async () => {
      const { session, result } = await sleeping(version);
      const cancel = await starttls();
      cancel.end(buildCancelRequest(session.key.processId, session.key.secretKey));
      await once(cancel, 'close');
      const err = await result;
      expect(err).toBeInstanceOf(PgError);
      expect((err as PgError).fields.C).toBe('57014');
      expect((err as PgError).fields.M).toContain('canceling statement due to user request');
      expect(await session.query('select 5')).toEqual([['5']]);
      session.close();
    });
  }

  it('a plaintext CancelRequest cannot be routed in passthrough: closed without an answer, the query runs on', async () => {
    const before = await Metrics.fetch(proxy.adminPort);
    const session = await pgStartup(await starttls(), { ...login, protocolVersion: PG_PROTOCOL_3_0 });
    const result = session.query("select pg_sleep(1), 'finished'");
    const c = await RawClient.open(proxy.ports.postgres);
    c.send(buildCancelRequest(session.key.processId, session.key.secretKey));
    expect(await c.closed).toEqual(Buffer.alloc(0));
    expect(c.closedByPeer).toBe(true);
    expect(await result).toEqual([['', 'finished']]);
    const after = await Metrics.fetch(proxy.adminPort);
    expect(after.closed('postgres', 'cancel_unknown_key') - before.closed('postgres', 'cancel_unknown_key')).toBe(1);
    session.close();
  });

  it('psql sends its Ctrl-C cancel in plaintext (PQcancel): it reports "Cancel request sent" but the query runs to the end', async () => {
    const before = await Metrics.fetch(proxy.adminPort);
    // One simple Query with a side effect after the sleep: the table exists only if the
    // server ran the statement to its end, i.e. never received the cancel.
    const table = `cancel_probe_${process.pid}`;
    const psql = start('psql', ['-X', '-A', '-t', '-c', `select pg_sleep(2); create table ${table} ()`, libpq(host, proxy.ports.postgres, { sslmode: 'require' })], {
      PGPASSWORD: 'postgres',
    });
    const watcher = await pgStartup(await starttls(), { ...login, protocolVersion: PG_PROTOCOL_3_0 });
    while ((await watcher.query("select count(*) from pg_stat_activity where query like 'select pg_sleep(2);%' and wait_event = 'PgSleep'"))[0]![0] !== '1');
    psql.child.kill('SIGINT');
    const out = await psql.done;
    expect(out.stderr).toContain('Cancel request sent');
    // Wait for the backend to finish its statement (psql has gone; the backend has not).
    while ((await watcher.query("select count(*) from pg_stat_activity where query like 'select pg_sleep(2);%' and state = 'active'"))[0]![0] !== '0');
    const exists = (await watcher.query(`select count(*) from pg_class where relname = '${table}'`))[0]![0];
    watcher.close();
    expect(exists).toBe('1');
    const after = await Metrics.fetch(proxy.adminPort);
    expect(after.closed('postgres', 'cancel_unknown_key') - before.closed('postgres', 'cancel_unknown_key')).toBe(1);
  });
});
