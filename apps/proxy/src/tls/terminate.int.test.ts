/**
 * Terminate mode through the real proxy (in-process) with real TLS clients and upstreams:
 * the proxy presents the route's certificate, reads the PostgreSQL StartupMessage in
 * plaintext and forwards it over TLS or plaintext; certificate problems stay on their route.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createCertificateAuthority, issueCertificate } from '@switchyard/pki';
import {
  ControlDb,
  createTestDatabase,
  echo,
  startFakeUpstream,
  startTls,
  TEST_KEYS,
  testCa,
  testCert,
  tlsFailure,
  type FakeUpstream,
  type TestDatabase,
} from '@switchyard/testkit';
import { buildStartupMessage, parseBackendMessage, parseErrorFields } from '@switchyard/wire';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { startProxy, type RunningProxy } from '../proxy.js';

const D = 'acme.db.example.com';
let db: TestDatabase;
let control: ControlDb;
let proxy: RunningProxy;
let plain: Server;
let plainPort: number;
let pgTls: FakeUpstream;
const routeCa = createCertificateAuthority({ commonName: 'Route CA' });
const otherCa = createCertificateAuthority({ commonName: 'Unrelated CA' });
const routes: Record<string, string> = {};

async function putTerminate(name: string, extra: Partial<Parameters<ControlDb['putRoute']>[0]> = {}): Promise<number> {
  const { routeId, version } = await control.putRoute({
    database: name,
    engine: 'postgres',
    upstream: { host: '127.0.0.1', port: plainPort },
    hostname: `${name}.${D}`,
    listener: 'postgres',
    tlsMode: 'terminate',
    certificate: issueCertificate(routeCa, { hostnames: [`${name}.${D}`] }),
    upstreamTls: false,
    ...extra,
  });
  routes[name] = routeId;
  return version;
}

beforeAll(async () => {
  db = await createTestDatabase();
  control = new ControlDb(db.url);
  // A plaintext upstream that echoes everything (including the forwarded StartupMessage).
  plain = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  plainPort = (plain.address() as AddressInfo).port;
  pgTls = await startFakeUpstream({ ...testCert(['127.0.0.1']), postgres: true });
  await putTerminate('plain');
  await putTerminate('tlsup', { upstream: { host: '127.0.0.1', port: pgTls.port }, upstreamTls: true, upstreamCa: testCa().certPem });
  await putTerminate('wrongca', { upstream: { host: '127.0.0.1', port: pgTls.port }, upstreamTls: true, upstreamCa: otherCa.certPem });
  await putTerminate('broken', { keyCiphertext: 'gone-key:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==:AAAA' });
  const day = 86_400_000;
  await putTerminate('expired', {
    certificate: issueCertificate(routeCa, { hostnames: [`expired.${D}`], notBefore: new Date(Date.now() - 9 * day), notAfter: new Date(Date.now() - day) }),
  });
  await putTerminate('replace');
  const version = await putTerminate('cache', { engine: 'redis', listener: 'tls', upstream: { host: '127.0.0.1', port: plainPort } });
  const config = loadConfig({
    DATABASE_URL: db.url,
    SWITCHYARD_LISTENERS: 'postgres=postgres@127.0.0.1:0,tls=tls@127.0.0.1:0',
    PROXY_ADMIN_PORT: '0',
    PROXY_ADMIN_HOST: '127.0.0.1',
    PROXY_HANDSHAKE_TIMEOUT_MS: '3000',
    PROXY_AUDIT_FLUSH_MS: '50',
    PROXY_ID: 'terminate-test',
    SWITCHYARD_KEYS: TEST_KEYS,
  });
  proxy = await startProxy(config, pino({ level: 'silent' }));
  await proxy.waitForVersion(version);
});

afterAll(async () => {
  await proxy?.stop();
  await pgTls?.close();
  await new Promise<void>((r) => (plain ? plain.close(() => r()) : r()));
  await control?.close();
  await db?.drop();
});

const pgClient = (name: string, alpn?: string[]) =>
  startTls({ port: proxy.ports.postgres!, servername: `${name}.${D}`, postgres: !alpn, ca: routeCa.certPem, alpn });

/** Connects and completes the startup (echoed back by the plaintext upstream). */
async function session(name: string): Promise<TLSSocket> {
  const tls = await pgClient(name);
  const startup = buildStartupMessage({ user: 'app' }).toString('latin1');
  expect(await echo(tls, startup)).toBe(startup);
  return tls;
}

async function readMessage(tls: TLSSocket): Promise<Buffer> {
  let buf = Buffer.alloc(0);
  for (;;) {
    const r = parseBackendMessage(buf);
    if (r.status === 'ok') return buf.subarray(0, r.consumed);
    const [chunk] = (await once(tls, 'data')) as [Buffer];
    buf = Buffer.concat([buf, chunk]);
  }
}

describe('terminate mode, PostgreSQL', () => {
  it('presents the route certificate, then forwards the StartupMessage to a plaintext upstream', async () => {
    const tls = await pgClient('plain');
    expect(tls.authorized).toBe(true);
    expect(tls.getPeerX509Certificate()?.subjectAltName).toBe(`DNS:plain.${D}`);
    const startup = buildStartupMessage({ user: 'app', database: 'app' });
    // The echo upstream returns the startup packet: proof it arrived in plaintext, intact.
    expect(await echo(tls, startup.toString('latin1'))).toBe(startup.toString('latin1'));
    expect(await echo(tls, 'select 1')).toBe('select 1');
    tls.destroy();
  });

  it('accepts direct TLS with ALPN postgresql and refuses other ALPN protocols', async () => {
    const tls = await pgClient('plain', ['postgresql']);
    expect(tls.alpnProtocol).toBe('postgresql');
    expect(await echo(tls, buildStartupMessage({ user: 'a' }).toString('latin1'))).toHaveLength(buildStartupMessage({ user: 'a' }).length);
    tls.destroy();
    const err = await tlsFailure({ port: proxy.ports.postgres!, servername: `plain.${D}`, postgres: true, alpn: ['h2'] });
    expect(err.message).toMatch(/no application protocol/i);
  });

  it('speaks TLS to the upstream (SSLRequest, S, TLS) and verifies it against the route’s upstream CA', async () => {
    const tls = await pgClient('tlsup');
    const startup = buildStartupMessage({ user: 'app' });
    expect(await echo(tls, startup.toString('latin1'))).toBe(startup.toString('latin1'));
    tls.destroy();
  });

  it('answers an upstream that fails verification with an ErrorResponse inside TLS', async () => {
    const tls = await pgClient('wrongca');
    tls.write(buildStartupMessage({ user: 'app' }));
    const msg = parseBackendMessage(await readMessage(tls));
    if (msg.status !== 'ok') throw new Error('no message');
    expect(msg.value.type).toBe('E');
    const fields = parseErrorFields(msg.value.body);
    expect(fields.C).toBe('08001');
    expect(fields.M).toContain('failed verification');
    tls.destroy();
  });

  it('refuses only the host name whose certificate cannot be used', async () => {
    const broken = await tlsFailure({ port: proxy.ports.postgres!, servername: `broken.${D}`, postgres: true });
    expect(broken.message).toMatch(/internal error/i);
    const expired = await tlsFailure({ port: proxy.ports.postgres!, servername: `expired.${D}`, postgres: true });
    expect(expired.message).toMatch(/certificate expired/i);
    const ok = await session('plain');
    expect(await echo(ok, 'still fine')).toBe('still fine');
    ok.destroy();
  });

  it('replaces a certificate without dropping an open session; new handshakes see the new one', async () => {
    const before = await session('replace');
    const oldFp = before.getPeerX509Certificate()!.fingerprint256;
    expect(await echo(before, 'one')).toBe('one');
    const version = await control.replaceCertificate(routes.replace!, issueCertificate(routeCa, { hostnames: [`replace.${D}`] }));
    await proxy.waitForVersion(version);
    expect(await echo(before, 'two')).toBe('two');
    const after = await session('replace');
    expect(after.getPeerX509Certificate()!.fingerprint256).not.toBe(oldFp);
    expect(await echo(after, 'three')).toBe('three');
    expect(await echo(before, 'four')).toBe('four');
    before.destroy();
    after.destroy();
  });
});

describe('terminate mode, TLS listener', () => {
  it('terminates a Redis-style client and talks plaintext to the upstream', async () => {
    const tls = await startTls({ port: proxy.ports.tls!, servername: `cache.${D}`, ca: routeCa.certPem });
    expect(tls.authorized).toBe(true);
    expect(await echo(tls, '*1\r\n$4\r\nPING\r\n')).toBe('*1\r\n$4\r\nPING\r\n');
    tls.destroy();
  });

  it('records the negotiated TLS version in the connection event', async () => {
    const tls = await startTls({ port: proxy.ports.tls!, servername: `cache.${D}`, ca: routeCa.certPem });
    expect(await echo(tls, 'x')).toBe('x');
    tls.end();
    await once(tls, 'close');
    const rows = await expect
      .poll(async () => control.prisma.connectionEvent.findMany({ where: { sni: `cache.${D}`, outcome: 'ok' } }), { timeout: 5000 })
      .toHaveLength(2)
      .then(() => control.prisma.connectionEvent.findMany({ where: { sni: `cache.${D}`, outcome: 'ok' } }));
    expect(rows.every((r) => r.tlsVersion === 'TLSv1.3' && r.mode === 'terminate')).toBe(true);
  });
});
