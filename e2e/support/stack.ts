/**
 * A whole Switchyard for one test file: a control database, the API (in-process, real
 * HTTP) and the proxy as its own process — the way it runs in production.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp, loadConfig as loadApiConfig, type App } from '@switchyard/api';
import { getFreePort } from '@switchyard/testkit';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
export const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdef0123456789abcdef';
export const BASE_DOMAIN = 'db.example.test';

export interface ProxyProcess {
  ports: { postgres: number; tls: number };
  adminPort: number;
  child: ChildProcess;
  output(): string;
  /** The config version the proxy serves (from /readyz). */
  version(): Promise<number | null>;
  stop(): Promise<number | null>;
}

/**
 * `extraListeners`: more listener definitions appended to the default two, e.g.
 * `web=http@127.0.0.1:<port>` (docs/proxy.md "Listener kinds").
 *
 * One process (PROXY_WORKERS=1) unless the test says otherwise or E2E_PROXY_WORKERS is set:
 * `E2E_PROXY_WORKERS=2 npx vitest run --project e2e` runs every end-to-end file against a
 * cluster of two workers.
 */
export async function startProxyProcess(databaseUrl: string, env: Record<string, string> = {}, extraListeners: string[] = []): Promise<ProxyProcess> {
  const ports = { postgres: await getFreePort(), tls: await getFreePort() };
  const adminPort = await getFreePort();
  const child = spawn(process.execPath, ['--conditions=switchyard-source', '--import', 'tsx', join(root, 'apps/proxy/src/main.ts')], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      SWITCHYARD_LISTENERS: [`postgres=postgres@127.0.0.1:${ports.postgres}`, `tls=tls@127.0.0.1:${ports.tls}`, ...extraListeners].join(','),
      PROXY_ADMIN_HOST: '127.0.0.1',
      PROXY_ADMIN_PORT: String(adminPort),
      PROXY_HEARTBEAT_INTERVAL_MS: '1000',
      PROXY_ID: `e2e-${adminPort}`,
      LOG_LEVEL: 'info',
      PROXY_WORKERS: process.env.E2E_PROXY_WORKERS ?? '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const proxy: ProxyProcess = {
    ports,
    adminPort,
    child,
    output: () => out,
    version: async () => {
      const r = await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => null);
      if (!r) return null;
      return ((await r.json()) as { version: number | null }).version;
    },
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
  // The proxy logs "route table loaded" once it has routes and "proxy listening" once its
  // listeners are bound (in cluster mode: every worker's, each with the table); wait for both.
  await new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (out.includes('route table loaded') && out.includes('"msg":"proxy listening"')) {
        child.stdout.off('data', onData);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`proxy exited (${code}):\n${out}`)));
  });
  return proxy;
}

export interface ApiServer {
  app: App;
  url: string;
  call<T = any>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

export async function startApi(databaseUrl: string, listenerPorts: { postgres: number; tls: number }, env: Record<string, string> = {}): Promise<ApiServer> {
  const config = loadApiConfig({
    DATABASE_URL: databaseUrl,
    SWITCHYARD_ADMIN_TOKEN: ADMIN_TOKEN,
    SWITCHYARD_BASE_DOMAIN: BASE_DOMAIN,
    SWITCHYARD_LISTENERS: `postgres=postgres@127.0.0.1:${listenerPorts.postgres},tls=tls@127.0.0.1:${listenerPorts.tls}`,
    PROXY_LIVENESS_MS: '5000',
    LOG_LEVEL: 'silent',
    SWITCHYARD_ALLOW_LOOPBACK_UPSTREAMS: 'true',
    ...env,
  });
  const app = await buildApp({ config, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    app,
    url,
    call: async (method, path, body, token = ADMIN_TOKEN) => {
      const r = await fetch(url + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      return { status: r.status, body: (await r.json().catch(() => null)) as never };
    },
    close: () => app.close(),
  };
}

export interface ApiProcess {
  child: ChildProcess;
  output(): string;
}

/**
 * Another API replica as its own process (the one `startApi` runs in-process is the first),
 * with the same base configuration plus `env`; resolves once it listens. For tests that
 * kill a replica (SIGKILL) or run several against one control database.
 */
export async function startApiProcess(databaseUrl: string, listenerPorts: { postgres: number; tls: number }, env: Record<string, string> = {}): Promise<ApiProcess> {
  const child = spawn(process.execPath, ['--conditions=switchyard-source', '--import', 'tsx', join(root, 'apps/api/src/server.ts')], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      SWITCHYARD_ADMIN_TOKEN: ADMIN_TOKEN,
      SWITCHYARD_BASE_DOMAIN: BASE_DOMAIN,
      SWITCHYARD_LISTENERS: `postgres=postgres@127.0.0.1:${listenerPorts.postgres},tls=tls@127.0.0.1:${listenerPorts.tls}`,
      PROXY_LIVENESS_MS: '5000',
      SWITCHYARD_ALLOW_LOOPBACK_UPSTREAMS: 'true',
      API_HOST: '127.0.0.1',
      API_PORT: '0',
      // No metrics listener unless a test asks for one (a free port in `env`): with the
      // default (9482) a second replica, or a parallel test file's, fails to bind and exits 1.
      API_METRICS_PORT: '0',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (out.includes('Server listening')) {
        child.stdout.off('data', onData);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`API exited (${code}):\n${out}`)));
  });
  return { child, output: () => out };
}

/** Creates tenant `acme` allowing loopback upstreams, and returns an owner token. */
export async function seedTenant(api: ApiServer, slug = 'acme'): Promise<string> {
  const t = await api.call('POST', '/api/v1/tenants', { slug, name: slug, upstreamPolicy: { hostSuffixes: [`${slug}.svc.cluster.local`], cidrs: ['127.0.0.0/8'] } });
  if (t.status !== 201) throw new Error(JSON.stringify(t.body));
  const tok = await api.call<{ token: string }>('POST', `/api/v1/tenants/${slug}/tokens`, { name: 'e2e', role: 'owner' });
  if (tok.status !== 201) throw new Error(JSON.stringify(tok.body));
  return tok.body.token;
}
