/**
 * The proxy keeps routing from its last table while the control database is down, and
 * catches up (full resync) once it is back.
 */
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { migrate, startEmbeddedPostgres, type RunningPostgres } from '@switchyard/db';
import { getFreePort } from '@switchyard/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { libpq, run } from '../support/tools.js';
import { startTlsPostgres, tempDir, type TlsPostgres } from '../support/upstreams.js';

const hostA = `alpha.acme.${BASE_DOMAIN}`;
const hostB = `beta.acme.${BASE_DOMAIN}`;
let dir: string;
let port: number;
let control: RunningPostgres;
let url: string;
let upstream: TlsPostgres;
let proxy: ProxyProcess;
let api: ApiServer;
let token: string;

const startControl = () => startEmbeddedPostgres({ dataDir: join(dir, 'data'), port, persistent: true, settings: { fsync: 'off' } });
const select = (host: string) =>
  run('psql', ['-X', '-A', '-t', '-c', 'select 1', libpq(host, proxy.ports.postgres, { sslmode: 'require' })], { env: { PGPASSWORD: 'postgres' } });

beforeAll(async () => {
  dir = tempDir('sy-e2e-control-');
  port = await getFreePort();
  control = await startControl();
  url = control.url;
  await migrate(url);
  upstream = await startTlsPostgres([hostA, hostB]);
  proxy = await startProxyProcess(url, { PROXY_RESYNC_INTERVAL_MS: '60000' });
  api = await startApi(url, proxy.ports);
  token = await seedTenant(api);
  for (const name of ['alpha', 'beta']) {
    await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port: upstream.port } }, token);
  }
  const r = await api.call('PUT', '/api/v1/tenants/acme/databases/alpha/external-access?wait=true', { enabled: true }, token);
  expect(r.body.propagation.state).toBe('applied');
});

afterAll(async () => {
  await api?.close();
  await proxy?.stop();
  await upstream?.cleanup();
  await control?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('keeps routing while the control database is stopped, then catches up', async () => {
  expect((await select(hostA)).stdout.trim()).toBe('1');
  const versionBefore = await proxy.version();

  await control.stop();
  // New connections still route from the last table.
  for (let i = 0; i < 5; i++) {
    const r = await select(hostA);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('1');
  }
  expect(await proxy.version()).toBe(versionBefore);
  expect((await select(hostB)).code).not.toBe(0);

  control = await startControl();
  // A change committed after the outage must reach the proxy (reconnect + resync).
  const r = await api.call('PUT', '/api/v1/tenants/acme/databases/beta/external-access?wait=true&timeoutMs=20000', { enabled: true }, token);
  expect(r.status).toBe(200);
  expect(r.body.propagation.state).toBe('applied');
  expect((await select(hostB)).stdout.trim()).toBe('1');
  expect(proxy.output()).toContain('control database connection lost');
  // The log after the reconnect is read as a delta: the proxy's newest change is still in it.
  expect(proxy.output()).toMatch(/reconnected; resyncing routes/);
  expect(proxy.output()).not.toMatch(/change log has a gap/);
}, 120_000);
