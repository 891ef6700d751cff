import { recordRouteChange } from '@switchyard/db';
import { buildClientHello, buildStartupMessage, parseBackendMessage, parseErrorFields } from '@switchyard/wire';
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
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { startProxy, type RunningProxy } from './proxy.js';

let db: TestDatabase;
let control: ControlDb;
let proxy: RunningProxy;
let pgUp: FakeUpstream;
let tlsUp: FakeUpstream;
const cert = testCert(['*.acme.db.example.com']);

beforeAll(async () => {
  db = await createTestDatabase();
  control = new ControlDb(db.url);
  pgUp = await startFakeUpstream({ ...cert, postgres: true });
  tlsUp = await startFakeUpstream(cert);
  await control.putRoute({ database: 'pg1', engine: 'postgres', upstream: { host: '127.0.0.1', port: pgUp.port }, hostname: 'pg1.acme.db.example.com', listener: 'postgres' });
  const { version } = await control.putRoute({ database: 'r1', engine: 'redis', upstream: { host: '127.0.0.1', port: tlsUp.port }, hostname: 'r1.acme.db.example.com', listener: 'tls' });
  const config = loadConfig({
    DATABASE_URL: db.url,
    SWITCHYARD_LISTENERS: 'postgres=postgres@127.0.0.1:0,tls=tls@127.0.0.1:0',
    PROXY_ADMIN_PORT: '0',
    PROXY_ADMIN_HOST: '127.0.0.1',
    PROXY_HANDSHAKE_TIMEOUT_MS: '1500',
    PROXY_AUDIT_FLUSH_MS: '50',
    PROXY_ID: 'test-proxy',
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

function hasSs(): boolean {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('passthrough', () => {
  it('routes a TLS client by SNI and replays the hello intact', async () => {
    const tls = await startTls({ port: proxy.ports.tls!, servername: 'r1.acme.db.example.com' });
    expect(await echo(tls, 'hello redis')).toBe('hello redis');
    tls.destroy();
    expect(tlsUp.serverNames).toContain('r1.acme.db.example.com');
  });

  it('routes PostgreSQL STARTTLS: S to the client, SSLRequest to the upstream', async () => {
    const tls = await startTls({ port: proxy.ports.postgres!, servername: 'PG1.acme.db.example.com.', postgres: true });
    expect(await echo(tls, 'select 1')).toBe('select 1');
    tls.destroy();
  });

  it('accepts direct TLS on the postgres listener', async () => {
    const tls = await startTls({ port: proxy.ports.postgres!, servername: 'pg1.acme.db.example.com', alpn: ['postgresql'] });
    expect(tls.alpnProtocol).toBe('postgresql');
    expect(await echo(tls, 'direct')).toBe('direct');
    tls.destroy();
  });

  it('answers unknown hostnames with an unrecognized_name alert and never falls back', async () => {
    const before = tlsUp.connections;
    const err = await tlsFailure({ port: proxy.ports.tls!, servername: 'nope.acme.db.example.com' });
    expect(err.message).toMatch(/unrecognized name/i);
    expect(tlsUp.connections).toBe(before);
  });

  it('refuses a route on the wrong listener', async () => {
    const err = await tlsFailure({ port: proxy.ports.tls!, servername: 'pg1.acme.db.example.com' });
    expect(err.message).toMatch(/unrecognized name/i);
  });

  async function plaintextError(localAddress: string): Promise<Record<string, string>> {
    const s = await rawConnect(proxy.ports.postgres!, localAddress);
    const done = readUntilClose(s);
    s.write(buildStartupMessage({ user: 'app', database: 'app' }));
    const msg = parseBackendMessage(await done);
    if (msg.status !== 'ok' || msg.value.type !== 'E') throw new Error(`expected an ErrorResponse, got ${JSON.stringify(msg)}`);
    return parseErrorFields(msg.value.body);
  }

  it('tells a plaintext PostgreSQL client that TLS with SNI is required', async () => {
    const fields = await plaintextError('127.0.0.2');
    expect(fields.S).toBe('FATAL');
    expect(fields.C).toBe('28000');
    expect(fields.M).toContain('requires TLS with SNI');
    expect(fields.H).toContain('sslmode=require');
  });

  it('explains a refused TLS attempt on the plaintext retry that follows it (sslmode=prefer)', async () => {
    await tlsFailure({ port: proxy.ports.postgres!, servername: 'gone.acme.db.example.com', postgres: true, localAddress: '127.0.0.3' });
    const fields = await plaintextError('127.0.0.3');
    expect(fields.C).toBe('3D000');
    expect(fields.M).toContain('no database is exposed under this host name');
    expect(fields.D).toContain('gone.acme.db.example.com');
    // Only the one retry gets the explanation.
    expect((await plaintextError('127.0.0.3')).C).toBe('28000');
  });

  // TCP_NODELAY and keepalive are set on the listening socket and inherited by accepted ones
  // (listener/listener.ts): the kernel shows the keepalive timer on both sides of the pipe.
  it.skipIf(process.platform !== 'linux' || !hasSs())('keeps TCP keepalive on the accepted and the upstream socket', async () => {
    const tls = await startTls({ port: proxy.ports.tls!, servername: 'r1.acme.db.example.com' });
    expect(await echo(tls, 'keepalive')).toBe('keepalive');
    const ss = (filter: string) => execFileSync('ss', ['-tnoH', 'state', 'established', filter]).toString();
    // ss shows one timer per socket: the retransmission timer while bytes are unacknowledged
    // (a delayed ACK on loopback), the keepalive timer once the socket is quiet. The kernel
    // gives no event for that, so look again briefly.
    let accepted = '';
    let upstream = '';
    for (let i = 0; i < 50; i++) {
      accepted = ss(`( sport = :${proxy.ports.tls!} and dport = :${tls.localPort!} )`);
      upstream = ss(`( dport = :${tlsUp.port} )`);
      if (accepted.includes('keepalive') && upstream.includes('keepalive')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    tls.destroy();
    expect(accepted).toMatch(/timer:\(keepalive,/);
    expect(upstream).toMatch(/timer:\(keepalive,/);
  });

  it('cuts a silent client at the handshake deadline', async () => {
    const s = await rawConnect(proxy.ports.tls!);
    s.write(Buffer.from([22, 3, 1]));
    const started = Date.now();
    await readUntilClose(s);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('closes garbage on the tls listener without an answer', async () => {
    const s = await rawConnect(proxy.ports.tls!);
    const done = readUntilClose(s);
    s.write('SSH-2.0-OpenSSH_9.2\r\n');
    expect((await done).length).toBe(0);
  });

  it('answers a plain HTTP request on the tls listener with 400 naming https:// (http_on_tls_port)', async () => {
    const s = await rawConnect(proxy.ports.tls!);
    const done = readUntilClose(s);
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const answer = (await done).toString();
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(answer).toContain('use https://');
  });
});

describe('route changes', () => {
  it('applies enable/disable without touching open connections of other routes', async () => {
    const open = await startTls({ port: proxy.ports.tls!, servername: 'r1.acme.db.example.com' });
    const { routeId, version } = await control.putRoute({
      database: 'pg2',
      engine: 'postgres',
      upstream: { host: '127.0.0.1', port: pgUp.port },
      hostname: 'pg2.acme.db.example.com',
      listener: 'postgres',
    });
    await proxy.waitForVersion(version);
    const c = await startTls({ port: proxy.ports.postgres!, servername: 'pg2.acme.db.example.com', postgres: true });
    expect(await echo(c, 'x')).toBe('x');
    c.destroy();
    await proxy.waitForVersion(await control.setEnabled(routeId, false));
    const err = await tlsFailure({ port: proxy.ports.postgres!, servername: 'pg2.acme.db.example.com', postgres: true });
    expect(err.message).toMatch(/unrecognized name/i);
    expect(await echo(open, 'still here')).toBe('still here');
    open.destroy();
  });

  it('closes open connections of a route disabled with close, and drains with drain', async () => {
    const closeRoute = await control.putRoute({ database: 'c1', engine: 'redis', upstream: { host: '127.0.0.1', port: tlsUp.port }, hostname: 'c1.acme.db.example.com', listener: 'tls', disableBehavior: 'close' });
    const drainRoute = await control.putRoute({ database: 'd1', engine: 'redis', upstream: { host: '127.0.0.1', port: tlsUp.port }, hostname: 'd1.acme.db.example.com', listener: 'tls' });
    await proxy.waitForVersion(drainRoute.version);
    const a = await startTls({ port: proxy.ports.tls!, servername: 'c1.acme.db.example.com' });
    const b = await startTls({ port: proxy.ports.tls!, servername: 'd1.acme.db.example.com' });
    const aClosed = once(a, 'close');
    await proxy.waitForVersion(await control.setEnabled(closeRoute.routeId, false));
    await proxy.waitForVersion(await control.setEnabled(drainRoute.routeId, false));
    await aClosed;
    expect(await echo(b, 'drained but alive')).toBe('drained but alive');
    b.destroy();
  });

  it('enforces source CIDRs and connection limits', async () => {
    const r = await control.putRoute({ database: 'p1', engine: 'redis', upstream: { host: '127.0.0.1', port: tlsUp.port }, hostname: 'p1.acme.db.example.com', listener: 'tls', sourceCidrs: ['10.0.0.0/8'] });
    await proxy.waitForVersion(r.version);
    expect((await tlsFailure({ port: proxy.ports.tls!, servername: 'p1.acme.db.example.com' })).message).toMatch(/access denied/i);
    const lim = await control.putRoute({ database: 'p1', engine: 'redis', upstream: { host: '127.0.0.1', port: tlsUp.port }, hostname: 'p1.acme.db.example.com', listener: 'tls', maxConnections: 1 });
    await proxy.waitForVersion(lim.version);
    const first = await startTls({ port: proxy.ports.tls!, servername: 'p1.acme.db.example.com' });
    expect((await tlsFailure({ port: proxy.ports.tls!, servername: 'p1.acme.db.example.com' })).message).toMatch(/internal error/i);
    first.destroy();
  });
});

describe('route sync', () => {
  const fullSyncs = async () =>
    (await proxy.metrics.syncs.get()).values.find((v) => v.labels.kind === 'full' && v.labels.result === 'ok')?.value ?? 0;

  it('loads a full snapshot when the change log has a gap', async () => {
    const before = await fullSyncs();
    const gap = await control.putRoute({ database: 'g1', engine: 'redis', upstream: { host: '127.0.0.1', port: tlsUp.port }, hostname: 'g1.acme.db.example.com', listener: 'tls' });
    await proxy.waitForVersion(gap.version);
    // Two committed changes whose first log row is gone (as after pruning).
    const v = await control.prisma.$transaction(async (tx) => {
      const r = await tx.route.update({ where: { id: gap.routeId }, data: { hostname: 'g2.acme.db.example.com' } });
      const first = await recordRouteChange(tx, { routeId: r.id, hostname: r.hostname, op: 'upsert' });
      await tx.route.update({ where: { id: gap.routeId }, data: { enabled: false } });
      const second = await recordRouteChange(tx, { routeId: r.id, hostname: r.hostname, op: 'upsert' });
      await tx.$executeRaw`DELETE FROM config_changes WHERE version = ${first}`;
      return second;
    });
    await proxy.waitForVersion(v);
    expect(await fullSyncs()).toBe(before + 1);
    expect(proxy.table()!.match('tls', 'g1.acme.db.example.com')).toBeUndefined();
    expect(proxy.table()!.match('tls', 'g2.acme.db.example.com')?.enabled).toBe(false);
  });

  it('applies deltas without a full load', async () => {
    const before = await fullSyncs();
    const r = await control.putRoute({ database: 'g3', engine: 'redis', upstream: { host: '127.0.0.1', port: tlsUp.port }, hostname: 'g3.acme.db.example.com', listener: 'tls' });
    await proxy.waitForVersion(r.version);
    expect(await fullSyncs()).toBe(before);
    expect(proxy.table()!.match('tls', 'g3.acme.db.example.com')?.version).toBe(r.version);
  });
});

describe('audit', () => {
  it('writes one connection event per connection with outcome and reason', async () => {
    const recorded = (sni: string, outcome: string) =>
      new Promise<void>((resolve) => {
        const on = (e: { sni: string | null; outcome: string }) => {
          if (e.sni === sni && e.outcome === outcome) {
            proxy.connectionLog.off('record', on);
            resolve();
          }
        };
        proxy.connectionLog.on('record', on);
      });
    const rejected = recorded('audit-unknown.acme.db.example.com', 'rejected');
    const accepted = recorded('r1.acme.db.example.com', 'ok');
    await tlsFailure({ port: proxy.ports.tls!, servername: 'audit-unknown.acme.db.example.com' });
    const ok = await startTls({ port: proxy.ports.tls!, servername: 'r1.acme.db.example.com' });
    await echo(ok, 'audit');
    ok.end();
    await Promise.all([rejected, accepted]);
    await proxy.connectionLog.flush();
    const rows = await control.prisma.$queryRaw<
      Array<{ sni: string; outcome: string; reason: string; bytes_in: number; bytes_out: number; route_id: string | null }>
    >`SELECT sni, outcome, reason, bytes_in::int AS bytes_in, bytes_out::int AS bytes_out, route_id::text AS route_id
        FROM connection_events WHERE sni IN ('audit-unknown.acme.db.example.com', 'r1.acme.db.example.com')`;
    expect(rows).toContainEqual(expect.objectContaining({ sni: 'audit-unknown.acme.db.example.com', outcome: 'rejected', reason: 'unknown_host', route_id: null }));
    const okRow = rows.find((r) => r.outcome === 'ok');
    expect(okRow).toMatchObject({ reason: 'client_closed' });
    expect(okRow!.bytes_in).toBeGreaterThan(200);
    expect(okRow!.bytes_out).toBeGreaterThan(200);
    expect(okRow!.route_id).not.toBeNull();
  });

  it('audits a hello whose ALPN holds NUL bytes, and the connections after it (a client cannot stall the audit)', async () => {
    const recorded = (sni: string) =>
      new Promise<void>((resolve) => {
        const on = (e: { sni: string | null }) => {
          if (e.sni === sni) {
            proxy.connectionLog.off('record', on);
            resolve();
          }
        };
        proxy.connectionLog.on('record', on);
      });
    const hostile = recorded('nul-alpn.acme.db.example.com');
    const s = await rawConnect(proxy.ports.tls!);
    const closed = readUntilClose(s);
    s.write(buildClientHello({ serverName: 'nul-alpn.acme.db.example.com', alpn: ['h2\0\0', 'http/1.1'] }));
    await closed;
    await hostile;
    await proxy.connectionLog.flush();
    const after = recorded('after-nul.acme.db.example.com');
    await tlsFailure({ port: proxy.ports.tls!, servername: 'after-nul.acme.db.example.com' });
    await after;
    await proxy.connectionLog.flush();
    const rows = await control.prisma.$queryRaw<Array<{ sni: string; alpn: string | null; reason: string }>>`
      SELECT sni, alpn, reason FROM connection_events WHERE sni IN ('nul-alpn.acme.db.example.com', 'after-nul.acme.db.example.com') ORDER BY id`;
    expect(rows).toEqual([
      { sni: 'nul-alpn.acme.db.example.com', alpn: 'h2\uFFFD\uFFFD', reason: 'unknown_host' },
      { sni: 'after-nul.acme.db.example.com', alpn: null, reason: 'unknown_host' },
    ]);
    expect(proxy.connectionLog.dropped).toBe(0);
  });

  it('reports open connections in the heartbeat and ends one on a terminate order', async () => {
    const conn = await startTls({ port: proxy.ports.tls!, servername: 'r1.acme.db.example.com' });
    expect(await echo(conn, 'live')).toBe('live');
    const reported = async () => ((await control.prisma.proxyInstance.findUnique({ where: { id: 'test-proxy' } }))?.connections ?? []) as Array<{ id: string; sni: string }>;
    let live = await reported();
    for (let i = 0; i < 50 && !live.some((c) => c.sni === 'r1.acme.db.example.com'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      live = await reported();
    }
    const entry = live.find((c) => c.sni === 'r1.acme.db.example.com')!;
    expect(entry.id).toMatch(/^0\.\d+$/);
    const ended = new Promise<{ reason: string; endedBy?: string | null; connectionId?: string | null }>((resolve) => {
      const on = (e: { reason: string; connectionId?: string | null }) => {
        if (e.connectionId === entry.id) {
          proxy.connectionLog.off('record', on);
          resolve(e);
        }
      };
      proxy.connectionLog.on('record', on);
    });
    const closed = once(conn, 'close');
    // Orders for another proxy are ignored; the one for this proxy ends the connection.
    const order = (proxyId: string) => JSON.stringify({ op: 'terminate', proxyId, connectionId: entry.id, by: 'user:ops@example.com' });
    await control.prisma.$executeRaw`SELECT pg_notify('switchyard_control', ${order('another-proxy')})`;
    await control.prisma.$executeRaw`SELECT pg_notify('switchyard_control', ${order('test-proxy')})`;
    await closed;
    expect(await ended).toMatchObject({ reason: 'terminated', endedBy: 'user:ops@example.com' });
  });

  it('heartbeats the applied version', async () => {
    const rows = await control.prisma.proxyInstance.findMany();
    expect(rows.map((r) => r.id)).toContain('test-proxy');
  });
});
