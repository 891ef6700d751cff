/**
 * 1,000 slow clients (Slowloris) against the real proxy process: each sends one byte of a
 * valid opening per second — half an SSLRequest on the postgres listener, half a ClientHello
 * on the tls listener. With a 4 s handshake deadline the proxy must cut every one of them
 * (reason `handshake_timeout`, answered in the language the client speaks at that moment)
 * while real clients — psql through the postgres listener and TLS sessions to redis-server
 * through the tls listener — keep connecting and completing, including while all 1,000 slow
 * sockets are held open. No timed assertions: the test awaits socket events and compares
 * counters.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { createTestDatabase, type TestDatabase } from '@switchyard/testkit';
import { buildClientHello, buildSslRequest, TlsAlert } from '@switchyard/wire';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Metrics, RawClient, errorResponse, tlsAlert } from '../support/raw.js';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { libpq, requireOpenFiles, run } from '../support/tools.js';
import { startTlsPostgres, startTlsRedis, type TlsPostgres, type TlsRedis } from '../support/upstreams.js';

const SLOW_CLIENTS = 1000;
// Long enough that real clients can complete while all slow ones are held open, even on a busy machine.
const HANDSHAKE_TIMEOUT_MS = 4000;
const pgHost = `orders.acme.${BASE_DOMAIN}`;
const redisHost = `cache.acme.${BASE_DOMAIN}`;

let db: TestDatabase;
let postgres: TlsPostgres;
let redis: TlsRedis;
let proxy: ProxyProcess;
let api: ApiServer;

beforeAll(async () => {
  // Each socket is held twice (test client and proxy), the upstream holds the other side.
  requireOpenFiles(3 * SLOW_CLIENTS + 500);
  db = await createTestDatabase();
  postgres = await startTlsPostgres([pgHost]);
  redis = await startTlsRedis([redisHost]);
  proxy = await startProxyProcess(db.url, { PROXY_HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_TIMEOUT_MS) });
  api = await startApi(db.url, proxy.ports);
  const token = await seedTenant(api);
  for (const [name, engine, port] of [['orders', 'postgres', postgres.port], ['cache', 'redis', redis.port]] as const) {
    expect((await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine, upstream: { host: '127.0.0.1', port } }, token)).status).toBe(201);
    const r = await api.call('PUT', `/api/v1/tenants/acme/databases/${name}/external-access?wait=true`, { enabled: true, tlsMode: 'passthrough' }, token);
    expect(r.body.propagation.state).toBe('applied');
  }
});

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  await redis?.stop();
  await postgres?.cleanup();
  await db?.drop();
});

/** One psql query through the postgres listener, verifying the database's certificate. */
async function goodPsql(): Promise<void> {
  const out = await run('psql', ['-X', '-A', '-t', '-c', 'select 7 * 6', libpq(pgHost, proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: postgres.caFile })], {
    env: { PGPASSWORD: 'postgres' },
  });
  expect(out.stderr).toBe('');
  expect(out.stdout.trim()).toBe('42');
}

/** One new TLS session to redis-server through the tls listener, one PING. */
async function goodRedis(ca: string): Promise<void> {
  const tls = tlsConnect({ host: '127.0.0.1', port: proxy.ports.tls, servername: redisHost, ca });
  await once(tls, 'secureConnect');
  tls.write('PING\r\n');
  const [reply] = (await once(tls, 'data')) as [Buffer];
  expect(reply.toString()).toBe('+PONG\r\n');
  tls.destroy();
}

it(`cuts ${SLOW_CLIENTS} clients sending a byte a second at the handshake deadline, without delaying anyone else`, async () => {
  const redisCa = readFileSync(redis.caFile, 'utf8');
  const before = await Metrics.fetch(proxy.adminPort);
  const openings = { postgres: buildSslRequest(), tls: buildClientHello({ serverName: redisHost }) };

  // Open the slow clients (in batches, so the test itself is not a SYN flood); each sends its
  // first byte at once and then one more per second.
  const slow: Array<{ listener: 'postgres' | 'tls'; client: RawClient; sent: number }> = [];
  for (let i = 0; i < SLOW_CLIENTS; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, SLOW_CLIENTS - i) }, async (_, j) => {
        const listener = (i + j) % 2 === 0 ? ('postgres' as const) : ('tls' as const);
        const client = await RawClient.open(proxy.ports[listener]);
        client.send(openings[listener].subarray(0, 1));
        return { listener, client, sent: 1 };
      }),
    );
    slow.push(...batch);
  }
  const ticker = setInterval(() => {
    for (const s of slow) {
      if (s.client.socket.destroyed || s.client.socket.writableEnded || s.client.closedByPeer) continue;
      s.client.send(openings[s.listener].subarray(s.sent, s.sent + 1));
      s.sent++;
    }
  }, 1000);

  let slowClosed = 0;
  let goodWhileAllSlowOpen = { psql: 0, redis: 0 };
  const allClosed = Promise.all(slow.map((s) => s.client.closed.then(() => slowClosed++)));
  let stop = false;
  void allClosed.then(() => (stop = true));

  // Real clients, back to back on both listeners, until every slow client has been cut.
  const good = { psql: 0, redis: 0 };
  const loop = async (kind: 'psql' | 'redis') => {
    while (!stop) {
      const heldOpen = slowClosed === 0;
      await (kind === 'psql' ? goodPsql() : goodRedis(redisCa));
      good[kind]++;
      if (heldOpen && slowClosed === 0) goodWhileAllSlowOpen = { ...goodWhileAllSlowOpen, [kind]: goodWhileAllSlowOpen[kind] + 1 };
    }
  };
  await Promise.all([loop('psql'), loop('redis'), allClosed]);
  clearInterval(ticker);

  // Every slow client was cut by the proxy, in the language it was speaking.
  for (const s of slow) {
    expect(s.client.closedByPeer).toBe(true);
    if (s.listener === 'postgres') {
      // Still inside its 8-byte SSLRequest: a PostgreSQL ErrorResponse.
      const f = errorResponse(s.client.bytes);
      expect(f.C).toBe('08P01');
      expect(f.M).toContain('not completed in time');
    } else {
      expect(s.client.bytes).toEqual(tlsAlert(TlsAlert.handshakeFailure));
    }
  }
  const after = await Metrics.fetch(proxy.adminPort);
  expect(after.closed('postgres', 'handshake_timeout') - before.closed('postgres', 'handshake_timeout')).toBe(SLOW_CLIENTS / 2);
  expect(after.closed('tls', 'handshake_timeout') - before.closed('tls', 'handshake_timeout')).toBe(SLOW_CLIENTS / 2);

  // Good clients completed throughout — also while all 1,000 slow sockets were held open —
  // and none of them failed (a failure throws above).
  expect(goodWhileAllSlowOpen.psql).toBeGreaterThanOrEqual(1);
  expect(goodWhileAllSlowOpen.redis).toBeGreaterThanOrEqual(1);
  expect(after.value('switchyard_proxy_connections_routed_total') - before.value('switchyard_proxy_connections_routed_total')).toBe(good.psql + good.redis);
  expect(proxy.child.exitCode).toBeNull();
});
