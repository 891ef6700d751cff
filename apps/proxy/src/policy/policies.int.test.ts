/**
 * Policies on a real proxy (in-process) against a real control database: the tenant-wide
 * connection cap, the new-connection rate per client address, the idle timeout (off by
 * default, on for one listener here), and what each refusal tells the client.
 */
import { recordRouteChange } from '@switchyard/db';
import { buildCancelRequest, buildStartupMessage, parseBackendMessage, parseErrorFields } from '@switchyard/wire';
import {
  ControlDb,
  createTestDatabase,
  echo,
  rawConnect,
  readUntilClose,
  startFakeUpstream,
  startTls,
  testCert,
  tlsFailure,
  type FakeUpstream,
  type TestDatabase,
} from '@switchyard/testkit';
import { once } from 'node:events';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionEventInput } from '../audit/connection-log.js';
import { loadConfig } from '../config.js';
import { startProxy, type RunningProxy } from '../proxy.js';

let db: TestDatabase;
let control: ControlDb;
let proxy: RunningProxy;
let pgUp: FakeUpstream;
let tlsUp: FakeUpstream;
const cert = testCert(['*.cap.db.example.com', '*.free.db.example.com']);
const A = 'a.cap.db.example.com';
const B = 'b.cap.db.example.com';
const F = 'f.free.db.example.com';
const P = 'p.free.db.example.com';

/** Resolves with the next connection event matching `pred`. */
function nextEvent(pred: (e: ConnectionEventInput) => boolean): Promise<ConnectionEventInput> {
  return new Promise((resolve) => {
    const on = (e: ConnectionEventInput) => {
      if (!pred(e)) return;
      proxy.connectionLog.off('record', on);
      resolve(e);
    };
    proxy.connectionLog.on('record', on);
  });
}

async function plaintextError(localAddress: string): Promise<Record<string, string>> {
  const s = await rawConnect(proxy.ports.postgres!, localAddress);
  const done = readUntilClose(s);
  s.write(buildStartupMessage({ user: 'app', database: 'app' }));
  const msg = parseBackendMessage(await done);
  if (msg.status !== 'ok' || msg.value.type !== 'E') throw new Error(`expected an ErrorResponse, got ${JSON.stringify(msg)}`);
  return parseErrorFields(msg.value.body);
}

async function setTenantCap(slug: string, max: number | null): Promise<number> {
  // What the API's tenant update does: the cap, and a change of every route of the tenant.
  return control.prisma.$transaction(async (tx) => {
    const t = await tx.tenant.update({ where: { slug }, data: { maxConnections: max } });
    let v = 0;
    for (const r of await tx.route.findMany({ where: { tenantId: t.id } })) v = await recordRouteChange(tx, { routeId: r.id, hostname: r.hostname, op: 'upsert' });
    return v;
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  control = new ControlDb(db.url);
  pgUp = await startFakeUpstream({ ...cert, postgres: true });
  tlsUp = await startFakeUpstream(cert);
  await control.putRoute({ tenant: 'cap', database: 'a', engine: 'postgres', upstream: { host: '127.0.0.1', port: pgUp.port }, hostname: A, listener: 'postgres' });
  await control.putRoute({ tenant: 'cap', database: 'b', engine: 'redis', upstream: { host: '127.0.0.1', port: tlsUp.port }, hostname: B, listener: 'tls' });
  await control.putRoute({ tenant: 'free', database: 'p', engine: 'postgres', upstream: { host: '127.0.0.1', port: pgUp.port }, hostname: P, listener: 'postgres' });
  const { version } = await control.putRoute({ tenant: 'free', database: 'f', engine: 'redis', upstream: { host: '127.0.0.1', port: tlsUp.port }, hostname: F, listener: 'idle' });
  const config = loadConfig({
    DATABASE_URL: db.url,
    SWITCHYARD_LISTENERS: 'postgres=postgres@127.0.0.1:0,tls=tls@127.0.0.1:0,idle=tls@127.0.0.1:0',
    PROXY_ADMIN_PORT: '0',
    PROXY_ADMIN_HOST: '127.0.0.1',
    PROXY_AUDIT_FLUSH_MS: '50',
    PROXY_ID: 'policies-proxy',
    PROXY_CLIENT_RATE: '1/m',
    PROXY_CLIENT_BURST: '3',
    // Idle timeout only on a listener of its own (the tenant cap test holds idle connections
    // on the tls listener, which a busy machine must not cut under it); postgres keeps the
    // default (off).
    PROXY_IDLE_TIMEOUTS: 'idle=400',
  });
  proxy = await startProxy(config, pino({ level: 'silent' }));
  await proxy.waitForVersion(version);
});

afterAll(async () => {
  await proxy?.stop();
  await pgUp?.close();
  await tlsUp?.close();
  await control?.close();
  await db?.drop();
});

describe('tenant connection cap', () => {
  it('counts connections across all routes of the tenant and speaks 53300 to a PostgreSQL client', async () => {
    await proxy.waitForVersion(await setTenantCap('cap', 2));
    expect(proxy.table()!.match('postgres', A)?.tenantMaxConnections).toBe(2);
    const a = await startTls({ port: proxy.ports.postgres!, servername: A, postgres: true, localAddress: '127.0.1.1' });
    const b = await startTls({ port: proxy.ports.tls!, servername: B, localAddress: '127.0.1.2' });
    expect(await echo(a, 'one')).toBe('one');
    // A third connection to either route is refused; another tenant is not affected.
    const refused = nextEvent((e) => e.reason === 'tenant_connection_limit');
    const err = await tlsFailure({ port: proxy.ports.postgres!, servername: A, postgres: true, localAddress: '127.0.1.3' });
    expect(err.message).toMatch(/internal error/i);
    expect(await refused).toMatchObject({ outcome: 'rejected', sni: A });
    const fields = await plaintextError('127.0.1.3');
    expect(fields.C).toBe('53300');
    expect(fields.M).toContain("too many connections to this tenant's databases");
    expect(fields.H).toContain('close idle connections');
    const other = await startTls({ port: proxy.ports.postgres!, servername: P, postgres: true, localAddress: '127.0.1.4' });
    expect(await echo(other, 'other tenant')).toBe('other tenant');
    other.destroy();
    // A slot frees when a connection ends.
    const freed = nextEvent((e) => e.sni === A && e.outcome === 'ok');
    a.destroy();
    await freed;
    const again = await startTls({ port: proxy.ports.postgres!, servername: A, postgres: true, localAddress: '127.0.1.5' });
    expect(await echo(again, 'again')).toBe('again');
    again.destroy();
    b.destroy();
    // Lifting the cap applies through the same change log.
    await proxy.waitForVersion(await setTenantCap('cap', null));
    expect(proxy.table()!.match('tls', B)?.tenantMaxConnections).toBeNull();
  });
});

describe('new-connection rate per client address', () => {
  it('admits a burst, then refuses that address only, explaining on the plaintext retry', async () => {
    const from = '127.0.2.1';
    for (let i = 0; i < 3; i++) {
      const c = await startTls({ port: proxy.ports.postgres!, servername: P, postgres: true, localAddress: from });
      expect(await echo(c, `n${i}`)).toBe(`n${i}`);
      c.destroy();
    }
    const limited = nextEvent((e) => e.reason === 'client_rate_limited' && e.clientAddress === from);
    const err = await tlsFailure({ port: proxy.ports.postgres!, servername: P, postgres: true, localAddress: from });
    expect(err.message).toMatch(/internal error/i);
    expect(await limited).toMatchObject({ outcome: 'rejected', routeId: null });
    const fields = await plaintextError(from);
    expect(fields.C).toBe('53300');
    expect(fields.M).toContain('too many new connections from your address');
    // Other addresses are unaffected.
    const other = await startTls({ port: proxy.ports.postgres!, servername: P, postgres: true, localAddress: '127.0.2.2' });
    expect(await echo(other, 'fine')).toBe('fine');
    other.destroy();
    const text = await (await fetch(`http://127.0.0.1:${proxy.adminPort}/metrics`)).text();
    expect(text).toMatch(/switchyard_proxy_connections_total\{listener="postgres",outcome="rejected",reason="client_rate_limited"\} [1-9]/);
  });
});

describe('new-connection rate and plaintext cancel requests', () => {
  it('takes a token per plaintext CancelRequest: key guessing costs what opening connections costs', async () => {
    const from = '127.0.2.3';
    const cancel = async () => {
      const s = await rawConnect(proxy.ports.postgres!, from);
      const answer = readUntilClose(s);
      s.write(buildCancelRequest(4242, Buffer.alloc(4, 1)));
      return answer;
    };
    for (let i = 0; i < 3; i++) {
      const unknown = nextEvent((e) => e.clientAddress === from && e.reason === 'cancel_unknown_key');
      expect(await cancel()).toEqual(Buffer.alloc(0));
      await unknown;
    }
    const limited = nextEvent((e) => e.clientAddress === from && e.reason === 'client_rate_limited');
    expect(await cancel()).toEqual(Buffer.alloc(0));
    expect(await limited).toMatchObject({ outcome: 'rejected' });
  });
});

describe('idle timeout', () => {
  it('is off by default (postgres listener) and cuts idle connections where configured (a tls listener)', async () => {
    const pgConn = await startTls({ port: proxy.ports.postgres!, servername: P, postgres: true, localAddress: '127.0.3.1' });
    expect(await echo(pgConn, 'before')).toBe('before');
    const idle = await startTls({ port: proxy.ports.idle!, servername: F, localAddress: '127.0.3.2' });
    expect(await echo(idle, 'x')).toBe('x');
    const cut = nextEvent((e) => e.sni === F && e.clientAddress === '127.0.3.2');
    const closed = once(idle, 'close');
    const started = Date.now();
    expect(await cut).toMatchObject({ outcome: 'ok', reason: 'idle_timeout' });
    await closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    // The postgres connection sat idle just as long and is still there.
    expect(await echo(pgConn, 'after')).toBe('after');
    pgConn.destroy();
  });
});

describe('connection events', () => {
  it('records every field of a proxied connection, once', async () => {
    const from = '127.0.4.1';
    const done = nextEvent((e) => e.clientAddress === from);
    const c = await startTls({ port: proxy.ports.postgres!, servername: P, postgres: true, alpn: ['postgresql'], localAddress: from });
    expect(await echo(c, 'fields')).toBe('fields');
    const localPort = c.localPort;
    c.end();
    const ev = await done;
    await proxy.connectionLog.flush();
    const rows = await control.prisma.$queryRaw<Array<Record<string, unknown>>>`
      SELECT e.proxy_id, e.listener, e.route_id::text AS route_id, e.tenant_id::text AS tenant_id, e.database_id::text AS database_id,
             host(e.client_address) AS client_address, e.client_port, e.sni, e.alpn, e.tls_version, e.mode,
             e.started_at, e.ended_at, e.bytes_in::int AS bytes_in, e.bytes_out::int AS bytes_out, e.outcome, e.reason
        FROM connection_events e WHERE host(e.client_address) = ${from}`;
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    const route = proxy.table()!.match('postgres', P)!;
    expect(row).toMatchObject({
      proxy_id: 'policies-proxy',
      listener: 'postgres',
      route_id: route.id,
      tenant_id: route.tenantId,
      database_id: route.databaseId,
      client_address: from,
      client_port: localPort,
      sni: P,
      alpn: 'postgresql',
      // Passthrough: TLS ends at the database, the proxy never learns the negotiated version.
      tls_version: null,
      mode: 'passthrough',
      outcome: 'ok',
      reason: 'client_closed',
    });
    expect((row.started_at as Date).getTime()).toBe(ev.startedAt);
    expect((row.ended_at as Date).getTime()).toBeGreaterThanOrEqual(ev.startedAt);
    // SSLRequest (8) + ClientHello + TLS records in; 'S' + server flight + echo out.
    expect(row.bytes_in).toBe(ev.bytesIn);
    expect(row.bytes_out).toBe(ev.bytesOut);
    expect(ev.bytesIn).toBeGreaterThan(200);
    expect(ev.bytesOut).toBeGreaterThan(200);
  });

  it('exports per-route, handshake, version, apply-time and audit metrics', async () => {
    const s = await rawConnect(proxy.ports.tls!);
    const text0 = readUntilClose(s);
    s.write('garbage that is not TLS\r\n');
    await text0;
    const text = await (await fetch(`http://127.0.0.1:${proxy.adminPort}/metrics`)).text();
    const route = proxy.table()!.match('postgres', P)!;
    expect(text).toContain(`switchyard_proxy_route_connections_total{route="${route.id}",outcome="ok"}`);
    expect(text).toContain(`switchyard_proxy_route_bytes_total{route="${route.id}",direction="in"}`);
    expect(text).toMatch(/switchyard_proxy_route_connections_total\{route="_none",outcome="rejected"\} [1-9]/);
    expect(text).toMatch(/switchyard_proxy_handshake_errors_total\{listener="tls",kind="not-tls"\} [1-9]/);
    expect(text).toContain(`switchyard_proxy_config_version ${proxy.table()!.version}`);
    expect(text).toMatch(/switchyard_proxy_config_apply_seconds_count [1-9]/);
    expect(text).toMatch(/switchyard_proxy_audit_events_written_total [1-9]/);
    expect(text).toContain('switchyard_proxy_audit_events_dropped_total 0');
    expect(text).toContain('switchyard_proxy_audit_queue_length');
  });
});
