/**
 * Garbage on every listener kind of the real proxy process (postgres, tls, http,
 * destination, egress, and a tls listener accepting PROXY headers only from 10.0.0.0/8):
 * random bytes, HTTP on the TLS port,
 * TLS on the postgres port without SSLRequest, SSLRequest twice, GSSENCRequest twice,
 * oversized hellos and startup packets, truncated records (with and without a FIN), silent
 * clients. Each connection must get the answer its client can read (a PostgreSQL
 * ErrorResponse while it speaks PostgreSQL, a TLS alert once it speaks TLS, an HTTP 400 for a
 * plain HTTP request on the TLS port, nothing for other bytes) and be closed by the proxy; the proxy must not crash, and
 * connections already established (node-postgres to PostgreSQL 18, TLS to redis-server)
 * keep working throughout. All hostile connections run at once. On listeners that forward
 * bytes unread (destination) or where the peer is a load balancer (PROXY headers), there is
 * no client language to answer in: the proxy closes.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { FUZZ_SEED } from '@switchyard/testkit/fuzz';
import { ControlDb, createTestDatabase, getFreePort, type TestDatabase } from '@switchyard/testkit';
import {
  buildCancelRequest,
  buildClientHello,
  buildGssEncRequest,
  buildSslRequest,
  buildProxyV1,
  buildProxyV2,
  buildStartupMessage,
  frameRecords,
  TlsAlert,
} from '@switchyard/wire';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics, RawClient, errorResponse, tlsAlert } from '../support/raw.js';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { libpq, run } from '../support/tools.js';
import { startTlsPostgres, startTlsRedis, type TlsPostgres, type TlsRedis } from '../support/upstreams.js';

const pgHost = `orders.acme.${BASE_DOMAIN}`;
const redisHost = `cache.acme.${BASE_DOMAIN}`;
/** The SNI of the captured Chromium post-quantum hello (packages/wire/fixtures). */
const pqHost = 'pq.acme.db.example.com';
const HANDSHAKE_TIMEOUT_MS = 2000;

let db: TestDatabase;
let control: ControlDb;
let postgres: TlsPostgres;
let redis: TlsRedis;
let proxy: ProxyProcess;
let api: ApiServer;
/** Ports of the extra listener kinds, by listener name. */
let extra: Record<'web' | 'kube' | 'egress' | 'pp', number>;
let recorder: { server: Server; received: Buffer; got: (n: number) => Promise<Buffer>; sockets: Set<Socket> };

function capturedPqHello(): Buffer {
  const hex = readFileSync(new URL('../../packages/wire/fixtures/chromium-pq.hex', import.meta.url), 'utf8');
  return Buffer.concat(hex.trim().split('\n').map((l) => Buffer.from(l, 'hex')));
}

/** A TCP upstream that only records what it receives (the replayed hello). */
async function startRecorder(): Promise<typeof recorder> {
  const state = { received: Buffer.alloc(0), waiters: [] as Array<() => void> };
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.on('data', (c: Buffer) => {
      state.received = Buffer.concat([state.received, c]);
      for (const w of state.waiters.splice(0)) w();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    sockets,
    get received() {
      return state.received;
    },
    got: async (n: number) => {
      while (state.received.length < n) await new Promise<void>((r) => state.waiters.push(r));
      return state.received;
    },
  };
}

beforeAll(async () => {
  db = await createTestDatabase();
  control = new ControlDb(db.url);
  postgres = await startTlsPostgres([pgHost]);
  redis = await startTlsRedis([redisHost]);
  recorder = await startRecorder();
  extra = { web: await getFreePort(), kube: await getFreePort(), egress: await getFreePort(), pp: await getFreePort() };
  proxy = await startProxyProcess(db.url, { PROXY_HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_TIMEOUT_MS), PROXY_AUDIT_FLUSH_MS: '100' }, [
    `web=http@127.0.0.1:${extra.web}`,
    `kube=destination@127.0.0.1:${extra.kube};proxy-protocol=127.0.0.0/8`,
    `egress=egress@127.0.0.1:${extra.egress}`,
    `pp=tls@127.0.0.1:${extra.pp};proxy-protocol=10.0.0.0/8`,
  ]);
  api = await startApi(db.url, proxy.ports);
  const token = await seedTenant(api);
  for (const [name, engine, port] of [['orders', 'postgres', postgres.port], ['cache', 'redis', redis.port]] as const) {
    const c = await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine, upstream: { host: '127.0.0.1', port } }, token);
    expect(c.status).toBe(201);
    const r = await api.call('PUT', `/api/v1/tenants/acme/databases/${name}/external-access?wait=true`, { enabled: true, tlsMode: 'passthrough' }, token);
    expect(r.body.propagation.state).toBe('applied');
  }
  // The captured hello names a host outside the API's base domain: write its route directly.
  const { version } = await control.putRoute({ database: 'pq', engine: 'tls', upstream: { host: '127.0.0.1', port: (recorder.server.address() as { port: number }).port }, hostname: pqHost, listener: 'tls' });
  while (((await proxy.version()) ?? 0) < version) await new Promise((r) => setTimeout(r, 50));
});

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  for (const s of recorder?.sockets ?? []) s.destroy();
  recorder?.server.close();
  await redis?.stop();
  await postgres?.cleanup();
  await control?.close();
  await db?.drop();
});

/** A node-postgres session through the proxy (passthrough, SNI via ssl.servername). */
async function pgClient(): Promise<pg.Client> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port: proxy.ports.postgres,
    user: 'postgres',
    password: 'postgres',
    database: 'postgres',
    ssl: { servername: pgHost, ca: readFileSync(postgres.caFile, 'utf8') },
  });
  c.on('error', () => {}); // a failed test tears the proxy down under it; the assertion says why
  await c.connect();
  return c;
}

/** A TLS session to redis-server through the tls listener; `ping` round-trips once. */
async function redisSession(): Promise<{ tls: TLSSocket; ping(): Promise<string> }> {
  const tls = tlsConnect({ host: '127.0.0.1', port: proxy.ports.tls, servername: redisHost, ca: readFileSync(redis.caFile, 'utf8') });
  await once(tls, 'secureConnect');
  return {
    tls,
    ping: async () => {
      tls.write('PING\r\n');
      const [d] = (await once(tls, 'data')) as [Buffer];
      return d.toString();
    },
  };
}

type Listener = 'postgres' | 'tls' | 'web' | 'kube' | 'egress' | 'pp';
const LISTENERS: Listener[] = ['postgres', 'tls', 'web', 'kube', 'egress', 'pp'];
const portOf = (l: Listener) => (l === 'postgres' || l === 'tls' ? proxy.ports[l] : extra[l]);
interface Case {
  name: string;
  listener: Listener;
  /** Talks to the proxy; returns the bytes received until the proxy closed. */
  talk(c: RawClient): Promise<Buffer>;
  expect(bytes: Buffer): void;
  /** The close reason the proxy must record (metrics), when deterministic. */
  reason?: string;
  /**
   * Source address. The proxy explains a plaintext retry from an address by the TLS refusal
   * it sent that address moments before (libpq's sslmode=prefer), so a case that must see
   * the plain "TLS required" comes from an address no other case uses.
   */
  from?: string;
}

const S = Buffer.from('S');
const N = Buffer.from('N');
/** Sends `bytes`, optionally half-closes, and returns everything received until close. */
const sendAll = (bytes: Buffer | string, fin = true) => async (c: RawClient) => {
  c.send(bytes);
  if (fin) c.finish();
  return c.closed;
};
/** Sends each step after the previous reply byte arrived. */
const steps = (parts: Array<Buffer | string>, replies: number[], fin = true) => async (c: RawClient) => {
  let expected = 0;
  for (let i = 0; i < parts.length; i++) {
    c.send(parts[i]!);
    expected += replies[i] ?? 0;
    if (replies[i]) await c.read(expected);
  }
  if (fin) c.finish();
  return c.closed;
};
const pgError = (sqlstate: string, message?: RegExp) => (bytes: Buffer) => {
  const f = errorResponse(bytes);
  expect(f.C).toBe(sqlstate);
  expect(f.S).toBe('FATAL');
  if (message) expect(f.M).toMatch(message);
};
const afterPrefix = (prefix: Buffer, rest: (b: Buffer) => void) => (bytes: Buffer) => {
  expect(bytes.subarray(0, prefix.length)).toEqual(prefix);
  rest(bytes.subarray(prefix.length));
};
const exactly = (want: Buffer) => (bytes: Buffer) => expect(bytes).toEqual(want);
const httpStatus = (status: number) => (bytes: Buffer) => {
  const text = bytes.toString('latin1');
  expect(text.startsWith(`HTTP/1.1 ${status} `), text.slice(0, 40)).toBe(true);
  expect(text).toContain('Connection: close');
};
const nothing = exactly(Buffer.alloc(0));

const hugeHello = buildClientHello({ serverName: pgHost, keyShareBytes: 20000 });
const truncatedHello = buildClientHello({ serverName: pgHost }).subarray(0, 40);
const http = 'GET / HTTP/1.1\r\nHost: orders.acme.db.example.test\r\nUser-Agent: curl/8\r\n\r\n';
const hugeStartup = Buffer.concat([Buffer.from([0, 0, 0x4e, 0x20]), buildStartupMessage({ user: 'u' }).subarray(4)]);

const cases: Case[] = [
  // postgres listener: the client speaks PostgreSQL until it sends or is told to send TLS.
  { name: 'HTTP request', listener: 'postgres', talk: sendAll(http), expect: pgError('08P01'), reason: 'protocol_violation' },
  { name: 'startup packet longer than 10,000 bytes', listener: 'postgres', talk: sendAll(hugeStartup, false), expect: pgError('08P01'), reason: 'protocol_violation' },
  { name: 'plaintext StartupMessage', listener: 'postgres', talk: sendAll(buildStartupMessage({ user: 'u' }), false), expect: pgError('28000', /requires TLS/), reason: 'tls_required', from: '127.0.3.1' },
  { name: 'SSLRequest twice', listener: 'postgres', talk: steps([buildSslRequest(), buildSslRequest()], [1], false), expect: afterPrefix(S, pgError('08P01')), reason: 'protocol_violation' },
  { name: 'GSSENCRequest twice', listener: 'postgres', talk: steps([buildGssEncRequest(), buildGssEncRequest()], [1], false), expect: afterPrefix(N, pgError('08P01')), reason: 'protocol_violation' },
  {
    name: 'GSSENCRequest, SSLRequest, SSLRequest',
    listener: 'postgres',
    talk: steps([buildGssEncRequest(), buildSslRequest(), buildSslRequest()], [1, 1], false),
    expect: afterPrefix(Buffer.from('NS'), pgError('08P01')),
    reason: 'protocol_violation',
  },
  {
    name: 'SSLRequest with the hello pipelined (CVE-2021-23222)',
    listener: 'postgres',
    talk: sendAll(Buffer.concat([buildSslRequest(), buildClientHello({ serverName: pgHost })]), false),
    expect: pgError('08P01', /unencrypted data after SSL request/),
    reason: 'data_after_ssl_request',
  },
  { name: 'TLS without SSLRequest, unknown host', listener: 'postgres', talk: sendAll(buildClientHello({ serverName: 'nope.acme.db.example.test' }), false), expect: exactly(tlsAlert(TlsAlert.unrecognizedName)), reason: 'unknown_host' },
  { name: 'TLS without SSLRequest, no SNI', listener: 'postgres', talk: sendAll(buildClientHello({ serverName: null }), false), expect: exactly(tlsAlert(TlsAlert.unrecognizedName)), reason: 'no_sni' },
  { name: 'oversized hello after SSLRequest', listener: 'postgres', talk: steps([buildSslRequest(), hugeHello], [1], false), expect: afterPrefix(S, exactly(tlsAlert(TlsAlert.decodeError))), reason: 'hello_invalid' },
  { name: 'oversized direct-TLS hello', listener: 'postgres', talk: sendAll(hugeHello, false), expect: exactly(tlsAlert(TlsAlert.decodeError)), reason: 'hello_invalid' },
  { name: 'truncated record after SSLRequest, then FIN', listener: 'postgres', talk: steps([buildSslRequest(), truncatedHello], [1], true), expect: afterPrefix(S, exactly(tlsAlert(TlsAlert.decodeError))), reason: 'hello_invalid' },
  { name: 'truncated record after SSLRequest, then silence', listener: 'postgres', talk: steps([buildSslRequest(), truncatedHello], [1], false), expect: afterPrefix(S, exactly(tlsAlert(TlsAlert.handshakeFailure))), reason: 'handshake_timeout' },
  { name: 'truncated startup packet, then FIN', listener: 'postgres', talk: sendAll(buildStartupMessage({ user: 'u' }).subarray(0, 10)), expect: pgError('08P01'), reason: 'protocol_violation' },
  { name: 'truncated startup packet, then silence', listener: 'postgres', talk: sendAll(buildStartupMessage({ user: 'u' }).subarray(0, 10), false), expect: pgError('08P01', /not completed in time/), reason: 'handshake_timeout' },
  { name: 'silent client', listener: 'postgres', talk: async (c) => c.closed, expect: pgError('08P01', /not completed in time/), reason: 'handshake_timeout' },
  { name: 'plaintext CancelRequest', listener: 'postgres', talk: sendAll(buildCancelRequest(12345, Buffer.alloc(4, 7)), false), expect: exactly(Buffer.alloc(0)), reason: 'cancel_unknown_key' },
  // tls listener: the client must open with a ClientHello.
  // A plain HTTP request (an http:// URL) reads a 400 naming the fix; other non-TLS bytes nothing.
  { name: 'HTTP request on the TLS port', listener: 'tls', talk: sendAll(http, false), expect: httpStatus(400), reason: 'http_on_tls_port' },
  { name: 'SSH banner on the TLS port', listener: 'tls', talk: sendAll('SSH-2.0-OpenSSH_9.2\r\n', false), expect: nothing, reason: 'not_tls' },
  // libpq on the wrong port: its SSLRequest is answered N (no STARTTLS here) so that its
  // plaintext StartupMessage (sslmode=prefer) can be told which port to use.
  { name: 'SSLRequest on the TLS port, then silence', listener: 'tls', talk: sendAll(buildSslRequest(), false), expect: afterPrefix(N, pgError('08P01', /not completed in time/)), reason: 'handshake_timeout' },
  { name: 'plaintext StartupMessage on the TLS port', listener: 'tls', talk: sendAll(buildStartupMessage({ user: 'u' }), false), expect: pgError('28000', /expects TLS from the first byte/), reason: 'postgres_on_tls_port' },
  { name: 'an alert record instead of a hello', listener: 'tls', talk: sendAll(tlsAlert(TlsAlert.decodeError), false), expect: exactly(Buffer.alloc(0)), reason: 'not_tls' },
  { name: 'a handshake record that is not a ClientHello', listener: 'tls', talk: sendAll(frameRecords(Buffer.from([2, 0, 0, 1, 0])), false), expect: exactly(tlsAlert(TlsAlert.decodeError)), reason: 'hello_invalid' },
  { name: 'record longer than 2^14', listener: 'tls', talk: sendAll(Buffer.from([22, 3, 1, 0x40, 0x01, 1]), false), expect: exactly(tlsAlert(TlsAlert.decodeError)), reason: 'hello_invalid' },
  { name: 'oversized hello', listener: 'tls', talk: sendAll(hugeHello, false), expect: exactly(tlsAlert(TlsAlert.decodeError)), reason: 'hello_invalid' },
  { name: 'hello without SNI', listener: 'tls', talk: sendAll(buildClientHello({ serverName: null }), false), expect: exactly(tlsAlert(TlsAlert.unrecognizedName)), reason: 'no_sni' },
  { name: 'hello for a postgres host on the TLS port', listener: 'tls', talk: sendAll(buildClientHello({ serverName: pgHost }), false), expect: exactly(tlsAlert(TlsAlert.unrecognizedName)), reason: 'unknown_host' },
  { name: 'truncated record, then FIN', listener: 'tls', talk: sendAll(truncatedHello), expect: exactly(tlsAlert(TlsAlert.decodeError)), reason: 'hello_invalid' },
  { name: 'truncated record, then silence', listener: 'tls', talk: sendAll(truncatedHello, false), expect: exactly(tlsAlert(TlsAlert.handshakeFailure)), reason: 'handshake_timeout' },
  { name: 'silent client', listener: 'tls', talk: async (c) => c.closed, expect: exactly(tlsAlert(TlsAlert.handshakeFailure)), reason: 'handshake_timeout' },
  // http listener: the client reads an HTTP response.
  { name: 'binary garbage', listener: 'web', talk: sendAll(Buffer.from([0, 1, 2, 3, 0xff]), false), expect: httpStatus(400), reason: 'http_invalid' },
  { name: 'a TLS hello on the HTTP port', listener: 'web', talk: sendAll(buildClientHello({ serverName: pgHost }), false), expect: httpStatus(400), reason: 'http_invalid' },
  { name: 'an SSLRequest on the HTTP port', listener: 'web', talk: sendAll(buildSslRequest(), false), expect: httpStatus(400), reason: 'http_invalid' },
  { name: 'HTTP/2 prior knowledge', listener: 'web', talk: sendAll('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', false), expect: httpStatus(505), reason: 'http_version_unsupported' },
  { name: 'a head larger than 16 KiB', listener: 'web', talk: sendAll(`GET / HTTP/1.1\r\nHost: a.example.test\r\nX-Pad: ${'a'.repeat(17000)}\r\n\r\n`, false), expect: httpStatus(431), reason: 'http_head_too_large' },
  { name: 'two Host fields', listener: 'web', talk: sendAll('GET / HTTP/1.1\r\nHost: a.example.test\r\nHost: b.example.test\r\n\r\n', false), expect: httpStatus(400), reason: 'http_invalid' },
  { name: 'no Host', listener: 'web', talk: sendAll('GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', false), expect: httpStatus(400), reason: 'no_host' },
  { name: 'an unknown Host', listener: 'web', talk: sendAll('GET / HTTP/1.1\r\nHost: nope.acme.db.example.test\r\n\r\n', false), expect: httpStatus(404), reason: 'unknown_host' },
  { name: 'bare LF line ends, then FIN', listener: 'web', talk: sendAll('GET / HTTP/1.1\nHost: a.example.test\n\n'), expect: httpStatus(400), reason: 'http_invalid' },
  { name: 'a truncated head, then FIN', listener: 'web', talk: sendAll('GET / HTTP/1.1\r\nHo'), expect: httpStatus(400), reason: 'http_invalid' },
  { name: 'silent client', listener: 'web', talk: async (c) => c.closed, expect: httpStatus(408), reason: 'handshake_timeout' },
  // destination listener (PROXY headers trusted from loopback): bytes are forwarded unread, so
  // there is nobody to answer but the balancer: close.
  { name: 'bytes without a PROXY header', listener: 'kube', talk: sendAll(buildClientHello({ serverName: pgHost }), false), expect: nothing, reason: 'proxy_header_required' },
  { name: 'a malformed v1 header', listener: 'kube', talk: sendAll('PROXY TCP4 10.0.0.1 10.0.0 1 2\r\n', false), expect: nothing, reason: 'proxy_header_invalid' },
  { name: 'a v2 signature followed by garbage', listener: 'kube', talk: sendAll(Buffer.concat([buildProxyV2(null).subarray(0, 12), Buffer.from([0x99, 0x99, 0, 0])]), false), expect: nothing, reason: 'proxy_header_invalid' },
  {
    name: 'a header naming an unknown destination',
    listener: 'kube',
    talk: sendAll(buildProxyV2({ source: { address: '10.1.2.3', port: 40000 }, destination: { address: '10.96.0.1', port: 443 } }), false),
    expect: nothing,
    reason: 'unknown_destination',
  },
  { name: 'silent client', listener: 'kube', talk: async (c) => c.closed, expect: nothing, reason: 'handshake_timeout' },
  // egress listener: speaks like the postgres listener.
  { name: 'HTTP request', listener: 'egress', talk: sendAll(http), expect: pgError('08P01'), reason: 'protocol_violation' },
  { name: 'SSLRequest twice', listener: 'egress', talk: steps([buildSslRequest(), buildSslRequest()], [1], false), expect: afterPrefix(S, pgError('08P01')), reason: 'protocol_violation' },
  { name: 'oversized hello', listener: 'egress', talk: sendAll(hugeHello, false), expect: exactly(tlsAlert(TlsAlert.decodeError)), reason: 'hello_invalid' },
  // tls listener that trusts PROXY headers only from 10.0.0.0/8; we connect from loopback.
  {
    name: 'a PROXY header from an untrusted address',
    listener: 'pp',
    talk: sendAll(buildProxyV1({ source: { address: '203.0.113.9', port: 1234 }, destination: { address: '10.0.0.1', port: 443 } }), false),
    expect: nothing,
    reason: 'proxy_header_untrusted',
  },
  { name: 'a hello without a header (untrusted source, passed to the sniffer)', listener: 'pp', talk: sendAll(buildClientHello({ serverName: 'nope.acme.db.example.test' }), false), expect: exactly(tlsAlert(TlsAlert.unrecognizedName)), reason: 'unknown_host' },
];

/** Random byte strings (seeded: FC_SEED replays them), each sent and half-closed. */
function randomCases(): Case[] {
  const samples = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { seed: FUZZ_SEED, numRuns: 24 });
  return samples.map((bytes, i) => {
    const b = Buffer.from(bytes);
    const listener: Listener = LISTENERS[i % LISTENERS.length]!;
    return {
      name: `random bytes #${i} (FC_SEED=${FUZZ_SEED})`,
      listener,
      talk: sendAll(b),
      expect: (got: Buffer) => {
        if (listener === 'web') {
          httpStatus(got.toString('latin1').startsWith('HTTP/1.1 431') ? 431 : 400)(got);
        } else if (listener === 'kube' || (listener === 'pp' && b[0] !== 22)) {
          // Unread forwarding or a balancer's header: nothing to say. (pp: bytes that are not a
          // PROXY header reach the TLS sniffer, which answers only TLS.)
          expect(got.length === 0 || got[0] === 21).toBe(true);
        } else if (b[0] === 22) {
          // Looks like TLS: an alert or nothing, never a PostgreSQL message.
          if (got.length > 0) expect(got[0]).toBe(21);
        } else if (listener === 'postgres' || listener === 'egress') {
          pgError('08P01')(got);
        } else {
          expect(got).toEqual(Buffer.alloc(0));
        }
      },
    };
  });
}

describe('garbage on every listener', () => {
  it('answers each client in its language, closes it, and never disturbs established sessions', async () => {
    // Established before the barrage, used during and after it.
    const session = await pgClient();
    const cache = await redisSession();
    expect((await session.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    expect(await cache.ping()).toBe('+PONG\r\n');
    const before = await Metrics.fetch(proxy.adminPort);

    const all = [...cases, ...randomCases()];
    const outcomes = await Promise.all(
      all.map(async (k) => {
        const c = await RawClient.open(portOf(k.listener), k.from);
        const bytes = await k.talk(c);
        return { k, bytes, byPeer: c.closedByPeer };
      }),
    );
    // Meanwhile (and after) the established sessions keep working.
    expect((await session.query("select 'still here' as s")).rows).toEqual([{ s: 'still here' }]);
    expect(await cache.ping()).toBe('+PONG\r\n');

    for (const { k, bytes, byPeer } of outcomes) {
      expect(byPeer, `${k.listener}: ${k.name} closed by the proxy`).toBe(true);
      try {
        k.expect(bytes);
      } catch (err) {
        throw new Error(`${k.listener}: ${k.name}: ${(err as Error).message}`, { cause: err });
      }
    }

    const after = await Metrics.fetch(proxy.adminPort);
    for (const listener of LISTENERS) {
      const expectedReasons = new Map<string, number>();
      for (const k of cases) if (k.listener === listener && k.reason) expectedReasons.set(k.reason, (expectedReasons.get(k.reason) ?? 0) + 1);
      for (const [reason, n] of expectedReasons) {
        expect(after.closed(listener, reason) - before.closed(listener, reason), `${listener} ${reason}`).toBeGreaterThanOrEqual(n);
      }
      const total = (m: Metrics) => m.value('switchyard_proxy_connections_total', { listener, outcome: 'rejected' });
      expect(total(after) - total(before), `every hostile ${listener} connection was refused`).toBe(all.filter((k) => k.listener === listener).length);
    }
    expect(proxy.child.exitCode).toBeNull();
    expect(proxy.output()).not.toContain('sniffer threw');

    // New clients still get through.
    const out = await run('psql', ['-X', '-A', '-t', '-c', 'select 40 + 2', libpq(pgHost, proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: postgres.caFile })], {
      env: { PGPASSWORD: 'postgres' },
    });
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe('42');
    await session.end();
    cache.tls.destroy();
  });

  it('routes a real 1.9 KB post-quantum hello split into TLS records and TCP segments, replaying it byte for byte', async () => {
    const captured = capturedPqHello();
    const message = captured.subarray(5, 5 + captured.readUInt16BE(3));
    for (const recordSize of [200, 700]) {
      const hello = frameRecords(message, recordSize, 0x0301);
      const start = recorder.received.length;
      const c = await RawClient.open(proxy.ports.tls);
      // One write per 97 bytes, each after the previous one was flushed to the kernel.
      for (let p = 0; p < hello.length; p += 97) {
        const flushed = new Promise<void>((r) => c.socket.write(hello.subarray(p, p + 97), () => r()));
        await flushed;
      }
      const got = await recorder.got(start + hello.length);
      expect(got.subarray(start, start + hello.length).equals(hello)).toBe(true);
      c.destroy();
    }
  });
});
