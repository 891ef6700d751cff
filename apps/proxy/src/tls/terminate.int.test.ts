/**
 * Terminate mode through the real proxy (in-process) with real TLS clients and upstreams:
 * the proxy presents the route's certificate, reads the PostgreSQL StartupMessage in
 * plaintext and forwards it over TLS or plaintext; certificate problems stay on their route.
 * The PostgreSQL upstreams are fake backends (`createFakePgBackend`) that report the startup
 * packet they received and the CancelRequests that reach them; e2e/protocol/ repeats the
 * important cases against a real PostgreSQL 18.
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { createCertificateAuthority, issueCertificate } from '@switchyard/pki';
import {
  ControlDb,
  createFakePgBackend,
  createTestDatabase,
  echo,
  rawConnect,
  readUntilClose,
  startFakeUpstream,
  startTls,
  TEST_KEYS,
  testCa,
  testCert,
  tlsFailure,
  type FakeUpstream,
  type TestDatabase,
} from '@switchyard/testkit';
import {
  buildCancelRequest,
  buildSslRequest,
  buildStartupMessage,
  parseBackendMessage,
  parseErrorFields,
  PG_PROTOCOL_3_2,
  type BackendMessage,
} from '@switchyard/wire';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { startProxy, type RunningProxy } from '../proxy.js';

const D = 'acme.db.example.com';
let db: TestDatabase;
let control: ControlDb;
let proxy: RunningProxy;
/** Plaintext echo server (the Redis-style route). */
let plain: Server;
let plainPort: number;
/** Fake PostgreSQL backends: plaintext, and behind SSLRequest + TLS. */
const backend = createFakePgBackend();
let pgPlain: Server;
let pgPlainPort: number;
let pgTls: FakeUpstream;
const routeCa = createCertificateAuthority({ commonName: 'Route CA' });
const otherCa = createCertificateAuthority({ commonName: 'Unrelated CA' });
const routes: Record<string, string> = {};
let defaultFiles: { cert: string; key: string };

async function putTerminate(name: string, extra: Partial<Parameters<ControlDb['putRoute']>[0]> = {}): Promise<number> {
  const { routeId, version } = await control.putRoute({
    database: name,
    engine: 'postgres',
    upstream: { host: '127.0.0.1', port: pgPlainPort },
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

/** A port nothing listens on (upstream down). */
let deadPort: number;

beforeAll(async () => {
  db = await createTestDatabase();
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  deadPort = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  // The certificate presented to clients without SNI (PROXY_DEFAULT_CERT_FILE).
  const fallback = issueCertificate(routeCa, { hostnames: [`*.${D}`] });
  const dir = join(tmpdir(), `sy-terminate-${process.pid}`);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'default.crt'), fallback.certPem);
  writeFileSync(join(dir, 'default.key'), fallback.keyPem, { mode: 0o600 });
  defaultFiles = { cert: join(dir, 'default.crt'), key: join(dir, 'default.key') };
  control = new ControlDb(db.url);
  // A plaintext upstream that echoes everything (including the forwarded StartupMessage).
  plain = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  plainPort = (plain.address() as AddressInfo).port;
  pgPlain = createServer({ allowHalfOpen: true }, (s) => backend.serve(s));
  await new Promise<void>((r) => pgPlain.listen(0, '127.0.0.1', r));
  pgPlainPort = (pgPlain.address() as AddressInfo).port;
  pgTls = await startFakeUpstream({ ...testCert(['127.0.0.1']), postgres: true, onSecure: (tls) => backend.serve(tls) });
  await putTerminate('plain');
  await putTerminate('cancels');
  await putTerminate('cancelstls', { upstream: { host: '127.0.0.1', port: pgTls.port }, upstreamTls: true, upstreamCa: testCa().certPem });
  await putTerminate('off', { enabled: false });
  await putTerminate('fenced', { sourceCidrs: ['10.9.9.0/24'] });
  await putTerminate('capped', { maxConnections: 1 });
  await putTerminate('down', { upstream: { host: '127.0.0.1', port: deadPort } });
  // A passthrough route: the endpoint option cannot reach it (TLS must end at the database).
  await control.putRoute({ database: 'pass', engine: 'postgres', upstream: { host: '127.0.0.1', port: pgTls.port }, hostname: `pass.${D}`, listener: 'postgres' });
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
    SWITCHYARD_BASE_DOMAIN: 'db.example.com',
    PROXY_DEFAULT_CERT_FILE: defaultFiles.cert,
    PROXY_DEFAULT_KEY_FILE: defaultFiles.key,
  });
  proxy = await startProxy(config, pino({ level: 'silent' }));
  await proxy.waitForVersion(version);
});

afterAll(async () => {
  await proxy?.stop();
  await pgTls?.close();
  await new Promise<void>((r) => (plain ? plain.close(() => r()) : r()));
  await new Promise<void>((r) => (pgPlain ? pgPlain.close(() => r()) : r()));
  await control?.close();
  await db?.drop();
});

const pgClient = (name: string, alpn?: string[]) =>
  startTls({ port: proxy.ports.postgres!, servername: `${name}.${D}`, postgres: !alpn, ca: routeCa.certPem, alpn });

/** Backend messages off a stream, one at a time. */
function reader(stream: TLSSocket): { next(): Promise<BackendMessage> } {
  let buf = Buffer.alloc(0);
  let wake: (() => void) | null = null;
  let ended = false;
  stream.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    wake?.();
  });
  stream.on('close', () => {
    ended = true;
    wake?.();
  });
  return {
    async next() {
      for (;;) {
        const r = parseBackendMessage(buf);
        if (r.status === 'ok') {
          buf = buf.subarray(r.consumed);
          return r.value;
        }
        if (ended) throw new Error('connection closed');
        await new Promise<void>((res) => (wake = res));
      }
    },
  };
}

interface Session {
  tls: TLSSocket;
  /** The startup packet the backend received (its ParameterStatus "startup"). */
  forwarded: Buffer;
  /** The BackendKeyData the client received. */
  key: { processId: number; secretKey: Buffer };
}

/** Sends a StartupMessage on an open TLS socket and reads the fake backend's answer to ReadyForQuery. */
async function startup(tls: TLSSocket, params: Record<string, string> = { user: 'app' }, version?: number): Promise<Session> {
  const r = reader(tls);
  tls.write(buildStartupMessage(params, version));
  let forwarded: Buffer | null = null;
  let key: Session['key'] | null = null;
  for (;;) {
    const m = await r.next();
    if (m.type === 'E') throw Object.assign(new Error('ErrorResponse'), { fields: parseErrorFields(m.body) });
    if (m.type === 'S' && m.body.toString().startsWith('startup\0')) forwarded = Buffer.from(m.body.toString().split('\0')[1]!, 'base64');
    if (m.type === 'K') key = { processId: m.body.readInt32BE(0), secretKey: Buffer.from(m.body.subarray(4)) };
    if (m.type === 'Z') break;
  }
  if (!forwarded || !key) throw new Error('incomplete startup');
  return { tls, forwarded, key };
}

/** Connects and completes the startup through the fake backend. */
async function session(name: string): Promise<TLSSocket> {
  return (await startup(await pgClient(name))).tls;
}

/** The first message the proxy sends after a StartupMessage: for refusals, an ErrorResponse. */
async function refusal(tls: TLSSocket, params: Record<string, string> = { user: 'app' }): Promise<Record<string, string>> {
  const r = reader(tls);
  tls.write(buildStartupMessage(params));
  const m = await r.next();
  expect(m.type).toBe('E');
  await once(tls, 'close');
  return parseErrorFields(m.body);
}

/** TLS after SSLRequest without SNI (libpq sslsni=0, host given as an IP): the default certificate. */
async function noSni(alpn?: string[]): Promise<TLSSocket> {
  const socket = await rawConnect(proxy.ports.postgres!);
  if (!alpn) {
    socket.write(buildSslRequest());
    const [reply] = (await once(socket, 'data')) as [Buffer];
    expect(reply.toString()).toBe('S');
  }
  const tls = tlsConnect({ socket, ca: routeCa.certPem, checkServerIdentity: () => undefined, ALPNProtocols: alpn });
  await once(tls, 'secureConnect');
  expect(tls.authorized).toBe(true);
  return tls;
}

describe('terminate mode, PostgreSQL', () => {
  it('presents the route certificate, then forwards the StartupMessage to a plaintext upstream', async () => {
    const tls = await pgClient('plain');
    expect(tls.authorized).toBe(true);
    expect(tls.getPeerX509Certificate()?.subjectAltName).toBe(`DNS:plain.${D}`);
    const s = await startup(tls, { user: 'app', database: 'app' });
    // The backend reports the startup packet it received: it arrived in plaintext, intact.
    expect(s.forwarded).toEqual(buildStartupMessage({ user: 'app', database: 'app' }));
    expect(await echo(tls, 'select 1')).toBe('select 1');
    tls.destroy();
  });

  it('accepts direct TLS with ALPN postgresql and refuses other ALPN protocols', async () => {
    const tls = await pgClient('plain', ['postgresql']);
    expect(tls.alpnProtocol).toBe('postgresql');
    expect((await startup(tls, { user: 'a' })).forwarded).toEqual(buildStartupMessage({ user: 'a' }));
    tls.destroy();
    const err = await tlsFailure({ port: proxy.ports.postgres!, servername: `plain.${D}`, postgres: true, alpn: ['h2'] });
    expect(err.message).toMatch(/no application protocol/i);
  });

  it('speaks TLS to the upstream (SSLRequest, S, TLS) and verifies it against the route’s upstream CA', async () => {
    const tls = await pgClient('tlsup');
    expect((await startup(tls)).forwarded).toEqual(buildStartupMessage({ user: 'app' }));
    tls.destroy();
  });

  it('answers an upstream that fails verification with an ErrorResponse inside TLS', async () => {
    const fields = await refusal(await pgClient('wrongca'));
    expect(fields.C).toBe('08001');
    expect(fields.M).toContain('failed verification');
    expect(fields.H).toContain('upstreamCa');
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

describe('terminate mode, PostgreSQL cancel requests', () => {
  /** Resolves with the key of the next CancelRequest that reaches a fake backend. */
  const nextCancel = () => new Promise<{ processId: number; secretKey: Buffer }>((resolve) => backend.onCancel(resolve));
  const cancelPackets = () => backend.packets.filter((p) => p.readInt32BE(4) === 80877102).length;

  /** A plaintext CancelRequest on a new connection, as libpq's PQcancel sends it; resolves with what the proxy answered. */
  async function plaintextCancel(key: Session['key']): Promise<Buffer> {
    const s = await rawConnect(proxy.ports.postgres!);
    const answer = readUntilClose(s);
    s.write(buildCancelRequest(key.processId, key.secretKey));
    return answer;
  }

  it('hands the client a proxy-minted key; a plaintext cancel on a new connection reaches the backend with its own key', async () => {
    const s = await startup(await pgClient('cancels'));
    const real = backend.keys.at(-1)!;
    expect(s.key.secretKey).toHaveLength(4);
    expect(s.key.processId).not.toBe(real.processId);
    expect(s.key.secretKey.equals(real.secretKey)).toBe(false);
    const seen = nextCancel();
    // PostgreSQL never answers a CancelRequest: the connection is closed once it is delivered.
    expect(await plaintextCancel(s.key)).toEqual(Buffer.alloc(0));
    expect(await seen).toEqual(real);
    expect(await echo(s.tls, 'still open')).toBe('still open');
    s.tls.destroy();
  });

  it('protocol 3.2: 32-byte keys, TLS to the upstream (SSLRequest, S, TLS) for the cancel too, and a cancel over TLS with SNI', async () => {
    const s = await startup(await pgClient('cancelstls'), { user: 'app' }, PG_PROTOCOL_3_2);
    const real = backend.keys.at(-1)!;
    expect(real.secretKey).toHaveLength(32);
    expect(s.key.secretKey).toHaveLength(32);
    expect(s.key.secretKey.equals(real.secretKey)).toBe(false);
    let seen = nextCancel();
    expect(await plaintextCancel(s.key)).toEqual(Buffer.alloc(0));
    expect(await seen).toEqual(real);
    // libpq 17's PQcancelCreate: SSLRequest, TLS with SNI, then the CancelRequest.
    seen = nextCancel();
    const viaTls = await pgClient('cancelstls');
    const closed = once(viaTls, 'close');
    viaTls.write(buildCancelRequest(s.key.processId, s.key.secretKey));
    await closed;
    expect(await seen).toEqual(real);
    s.tls.destroy();
  });

  it('drops unknown keys, keys of another route (TLS with SNI) and keys of ended sessions without a word', async () => {
    const s = await startup(await pgClient('cancels'));
    const before = cancelPackets();
    expect(await plaintextCancel({ processId: s.key.processId, secretKey: Buffer.alloc(4, 0x99) })).toEqual(Buffer.alloc(0));
    expect(await plaintextCancel({ processId: 12345, secretKey: s.key.secretKey })).toEqual(Buffer.alloc(0));
    const other = await pgClient('plain');
    const closed = once(other, 'close');
    other.write(buildCancelRequest(s.key.processId, s.key.secretKey));
    await closed;
    expect(cancelPackets()).toBe(before);
    // The entry is released with its session.
    expect(proxy.cancels.store.lookup(s.key.processId, s.key.secretKey)).not.toBeNull();
    s.tls.end();
    await once(s.tls, 'close');
    await expect.poll(() => proxy.cancels.store.lookup(s.key.processId, s.key.secretKey), { timeout: 5000 }).toBeNull();
    expect(await plaintextCancel(s.key)).toEqual(Buffer.alloc(0));
    expect(cancelPackets()).toBe(before);
  });

  it('a cancel over TLS without SNI (default certificate) is routed by its key', async () => {
    const s = await startup(await pgClient('cancels'));
    const real = backend.keys.at(-1)!;
    const seen = nextCancel();
    const tls = await noSni();
    const closed = once(tls, 'close');
    tls.write(buildCancelRequest(s.key.processId, s.key.secretKey));
    await closed;
    expect(await seen).toEqual(real);
    s.tls.destroy();
  });
});

describe('terminate mode, PostgreSQL clients without SNI (endpoint option)', () => {
  it('routes by options=endpoint=<database>.<tenant> and strips the option before the server sees it', async () => {
    const s = await startup(await noSni(), { user: 'app', database: 'app', options: 'endpoint=plain.acme' });
    expect(s.forwarded).toEqual(buildStartupMessage({ user: 'app', database: 'app' }));
    expect(await echo(s.tls, 'routed')).toBe('routed');
    s.tls.destroy();
  });

  it('accepts the full host name (any case, --endpoint too) and keeps the other switches', async () => {
    const s = await startup(await noSni(), { user: 'app', options: `-c search_path=x --endpoint=PLAIN.${D.toUpperCase()}. -c work_mem=64kB` });
    expect(s.forwarded).toEqual(buildStartupMessage({ user: 'app', options: '-c search_path=x -c work_mem=64kB' }));
    s.tls.destroy();
  });

  it('direct TLS with ALPN postgresql and no SNI works the same way', async () => {
    const tls = await noSni(['postgresql']);
    expect(tls.alpnProtocol).toBe('postgresql');
    const s = await startup(tls, { user: 'app', options: 'endpoint=cancels.acme' });
    expect(s.forwarded).toEqual(buildStartupMessage({ user: 'app' }));
    s.tls.destroy();
  });

  it('no SNI and no endpoint option: ErrorResponse 08004 naming the fixes', async () => {
    const fields = await refusal(await noSni());
    expect(fields.C).toBe('08004');
    expect(fields.M).toContain('no TLS server name (SNI)');
    expect(fields.H).toContain('sslsni=1');
    expect(fields.H).toContain('options=endpoint=<database>.<tenant>');
  });

  it('refuses an endpoint option that disagrees with the SNI, names nothing, a single label, or a passthrough route', async () => {
    const mismatch = await refusal(await pgClient('plain'), { user: 'app', options: 'endpoint=cancels.acme' });
    expect([mismatch.C, mismatch.M]).toEqual(['08004', expect.stringContaining('another database than the TLS server name')]);
    const agree = await startup(await pgClient('plain'), { user: 'app', options: 'endpoint=plain.acme' });
    expect(agree.forwarded).toEqual(buildStartupMessage({ user: 'app' }));
    agree.tls.destroy();
    expect((await refusal(await noSni(), { user: 'app', options: 'endpoint=nosuch.acme' })).C).toBe('3D000');
    expect((await refusal(await noSni(), { user: 'app', options: 'endpoint=plain' })).C).toBe('08004');
    expect((await refusal(await noSni(), { user: 'app', options: 'endpoint=plain.acme endpoint=cancels.acme' })).M).toContain('once');
    const pass = await refusal(await noSni(), { user: 'app', options: 'endpoint=pass.acme' });
    expect([pass.C, pass.M]).toEqual(['08004', expect.stringContaining('passthrough')]);
  });
});

describe('terminate mode, PostgreSQL refusals reach the client as ErrorResponses inside TLS', () => {
  it('disabled route, source CIDR, connection cap, upstream down, unknown host name — each with a SQLSTATE and a hint', async () => {
    const off = await refusal(await pgClient('off'));
    expect([off.C, off.M]).toEqual(['08004', expect.stringContaining('disabled')]);
    expect(off.H).toBeTruthy();
    const fenced = await refusal(await pgClient('fenced'));
    expect([fenced.C, fenced.M]).toEqual(['08004', expect.stringContaining('not allowed')]);
    expect(fenced.H).toContain('allowlist');
    const holder = await session('capped');
    const capped = await refusal(await pgClient('capped'));
    expect([capped.C, capped.M]).toEqual(['53300', expect.stringContaining('too many connections')]);
    holder.destroy();
    const down = await refusal(await pgClient('down'));
    expect([down.C, down.M]).toEqual(['08001', expect.stringContaining('not reachable')]);
    expect(down.H).toContain('retry');
    // An unknown name gets the default certificate (the client verified the chain) and 3D000.
    const unknown = await refusal(await startTls({ port: proxy.ports.postgres!, servername: `nosuch.${D}`, postgres: true, ca: routeCa.certPem }));
    expect([unknown.C, unknown.M]).toEqual(['3D000', expect.stringContaining('no database is exposed')]);
    // Six TLS handshakes in a row: room for a full parallel suite on two cores.
  }, 60_000);

  it('a client that completes TLS but sends no startup packet gets 08P01 at the handshake deadline', async () => {
    const tls = await pgClient('plain');
    const r = reader(tls);
    const m = await r.next();
    expect(m.type).toBe('E');
    const fields = parseErrorFields(m.body);
    expect([fields.C, fields.M]).toEqual(['08P01', expect.stringContaining('not completed in time')]);
    await once(tls, 'close');
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

  it('selects no ALPN for a Redis route with a plaintext upstream, whatever the client offers (http/1.1 is for HTTP routes)', async () => {
    const tls = await startTls({ port: proxy.ports.tls!, servername: `cache.${D}`, ca: routeCa.certPem, alpn: ['h2', 'http/1.1'] });
    expect(tls.alpnProtocol).toBe(false);
    expect(await echo(tls, 'y')).toBe('y');
    tls.destroy();
  });
});
