/**
 * Real redis-cli (--tls --sni) → proxy tls listener (passthrough) → real redis-server with TLS.
 */
import { createTestDatabase, type TestDatabase } from '@switchyard/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { run } from '../support/tools.js';
import { startTlsRedis, type TlsRedis } from '../support/upstreams.js';

const host = `cache.acme.${BASE_DOMAIN}`;
let db: TestDatabase;
let redis: TlsRedis;
let proxy: ProxyProcess;
let api: ApiServer;
let token: string;

const redisCli = (...args: string[]) =>
  run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', host, '--cacert', redis.caFile, ...args]);

beforeAll(async () => {
  db = await createTestDatabase();
  redis = await startTlsRedis([host]);
  proxy = await startProxyProcess(db.url);
  api = await startApi(db.url, proxy.ports);
  token = await seedTenant(api);
  const r = await api.call('POST', '/api/v1/tenants/acme/databases', { name: 'cache', engine: 'redis', upstream: { host: '127.0.0.1', port: redis.port } }, token);
  expect(r.status).toBe(201);
});

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  await redis?.stop();
  await db?.drop();
});

it('redis-cli --tls --sni reaches redis-server through the tls listener', async () => {
  const r = await api.call('PUT', '/api/v1/tenants/acme/databases/cache/external-access?wait=true', { enabled: true, tlsMode: 'passthrough' }, token);
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ listener: 'tls', port: proxy.ports.tls, propagation: { state: 'applied' } });
  expect(r.body.connection.redisCli).toContain(`--sni ${host}`);
  const set = await redisCli('SET', 'greeting', 'through-switchyard');
  expect(set.stdout.trim()).toBe('OK');
  const get = await redisCli('GET', 'greeting');
  expect(get.stdout.trim()).toBe('through-switchyard');
});

it('refuses redis-cli once access is disabled', async () => {
  await api.call('PUT', '/api/v1/tenants/acme/databases/cache/external-access?wait=true', { enabled: false }, token);
  const r = await redisCli('PING');
  expect(r.stdout + r.stderr).toMatch(/unrecognized name|SSL/i);
  expect(r.stdout).not.toContain('PONG');
});
