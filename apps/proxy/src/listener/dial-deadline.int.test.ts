/**
 * The handshake deadline and a slow upstream, through the real proxy (in-process): a client
 * whose hello came in time and whose upstream does not answer is refused as for an unreachable
 * upstream (`upstream_unreachable`: a TLS alert, a RESP error inside TLS), in its own language,
 * and recorded so — not blamed as `handshake_timeout` (the one deadline, accept → upstream
 * connected, covers the dial too; a stalled dial that ran into it was recorded as the client's
 * fault, a 408 on `http` listeners). A client that sends nothing still is.
 */
import { once } from 'node:events';
import { connect as tcpConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createCertificateAuthority, issueCertificate } from '@switchyard/pki';
import { ControlDb, createTestDatabase, readUntilClose, type TestDatabase } from '@switchyard/testkit';
import { buildSslRequest } from '@switchyard/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionEventsOf, startInProcessProxy } from '../testing/in-process.js';

const D = 'dial.db.example.com';
const routeCa = createCertificateAuthority({ commonName: 'Dial Deadline CA' });
let db: TestDatabase;
let control: ControlDb;
let version = 0;
/** Accepts TCP and never answers: the proxy's SSLRequest (passthrough) or TLS (upstreamTls) to it waits. */
let stallServer: Server;
const stalled: Socket[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  control = new ControlDb(db.url);
  stallServer = createServer((s) => {
    s.on('error', () => {});
    stalled.push(s);
  });
  await new Promise<void>((r) => stallServer.listen(0, '127.0.0.1', r));
  const upstream = { host: '127.0.0.1', port: (stallServer.address() as AddressInfo).port };
  await control.putRoute({ database: 'slowpg', engine: 'postgres', upstream, hostname: `slowpg.${D}`, listener: 'postgres' });
  ({ version } = await control.putRoute({
    database: 'slowcache',
    engine: 'redis',
    upstream,
    listener: 'tls',
    upstreamTls: true,
    hostname: `slowcache.${D}`,
    tlsMode: 'terminate',
    certificate: issueCertificate(routeCa, { hostnames: [`slowcache.${D}`] }),
  }));
});

afterAll(async () => {
  for (const s of stalled) s.destroy();
  await new Promise<void>((r) => (stallServer ? stallServer.close(() => r()) : r()));
  await control?.close();
  await db?.drop();
});

/** A short handshake deadline and an endpoint attempt that never ends first: only the deadline can stop the dial. */
const proxyWithShortDeadline = (id: string) => startInProcessProxy(db.url, id, version, { PROXY_HANDSHAKE_TIMEOUT_MS: '400', PROXY_CONNECT_TIMEOUT_MS: '60000' });

describe('handshake deadline while the upstream is dialled', () => {
  it('refuses a client whose hello came in time as upstream_unreachable, in its language; a silent client is still handshake_timeout', async () => {
    const proxy = await proxyWithShortDeadline('dial-deadline');
    const dialled = stalled.length;

    // Passthrough PostgreSQL: SSLRequest, 'S', then the ClientHello; the proxy's SSLRequest to
    // the database is never answered, so the client waits inside its TLS handshake.
    const pgSocket = tcpConnect({ host: '127.0.0.1', port: proxy.ports.postgres! });
    pgSocket.write(buildSslRequest());
    const [answer] = (await once(pgSocket, 'data')) as [Buffer];
    expect(answer.toString()).toBe('S');
    const pgBytes = readUntilClose(pgSocket);
    const pgTls = tlsConnect({ socket: pgSocket, servername: `slowpg.${D}`, rejectUnauthorized: false });
    const pgTlsError = once(pgTls, 'error').then(([e]) => e as NodeJS.ErrnoException);

    // Terminate-mode Redis with TLS to the upstream: the answer comes after its first command.
    const redis = tlsConnect({ host: '127.0.0.1', port: proxy.ports.tls!, servername: `slowcache.${D}`, ca: routeCa.certPem });
    redis.once('secureConnect', () => redis.write('*1\r\n$4\r\nPING\r\n'));
    const redisBytes = readUntilClose(redis);

    // A PostgreSQL client that connects and sends nothing: its own deadline, its own fault.
    const silent = tcpConnect({ host: '127.0.0.1', port: proxy.ports.postgres! });
    const silentBytes = readUntilClose(silent);

    await expect.poll(() => stalled.length - dialled, { timeout: 10_000 }).toBe(2);
    // A TLS alert from the proxy: internal_error (80), as for an upstream that refused the connection.
    expect((await pgTlsError).message).toMatch(/alert number 80|internal error/i);
    await pgBytes;
    expect((await redisBytes).toString()).toBe('-ERR Switchyard: the Redis server is not reachable\r\n');
    // The silent one reads a plaintext ErrorResponse naming the handshake timeout (08P01).
    const silentAnswer = await silentBytes;
    expect(String.fromCharCode(silentAnswer[0]!)).toBe('E');
    expect(silentAnswer.toString('latin1')).toContain('C08P01');

    await proxy.stop();
    expect(await connectionEventsOf(control, 'dial-deadline')).toEqual([
      { sni: `slowcache.${D}`, outcome: 'error', reason: 'upstream_unreachable' },
      { sni: `slowpg.${D}`, outcome: 'error', reason: 'upstream_unreachable' },
      { sni: null, outcome: 'rejected', reason: 'handshake_timeout' },
    ]);
  });
});
