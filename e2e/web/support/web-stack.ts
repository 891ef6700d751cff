/**
 * The dashboard's end-to-end stack: the API (in-process, real HTTP) serving the built
 * dashboard, the proxy as its own process, a real PostgreSQL with TLS as the tenants'
 * database, and people to sign in as. Shared by the browser tests, the screenshot script
 * and `npm run bench:web`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_KEYS } from '@switchyard/testkit';
import { BASE_DOMAIN, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../../support/stack.js';
import { startTlsPostgres, type TlsPostgres } from '../../support/upstreams.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');
export const WEB_DIST = join(root, 'apps/web/dist');
export const PASSWORD = 'correct horse battery staple';
export const USERS = {
  owner: 'owner@acme.test',
  member: 'member@acme.test',
  other: 'owner@globex.test',
} as const;
export { BASE_DOMAIN };

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * Builds the dashboard when there is no build or its sources changed since (a clean clone in
 * CI has none; `vite build` takes a few seconds).
 */
export function ensureWebBuild(): void {
  const index = join(WEB_DIST, 'index.html');
  const web = join(root, 'apps/web');
  const sourcesAt = Math.max(newest(join(web, 'src')), statSync(join(web, 'index.html')).mtimeMs, statSync(join(web, 'vite.config.ts')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs >= sourcesAt) return;
  // NODE_ENV=production: under vitest it is `test`, and Vite would then build development React
  // (jsx-dev-runtime, react-dom's development build: a 490 KB entry) — slower, and not what ships.
  const r = spawnSync(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], { cwd: web, encoding: 'utf8', env: { ...process.env, NODE_ENV: 'production' } });
  if (r.status !== 0) throw new Error(`building the dashboard failed:\n${r.stdout}\n${r.stderr}`);
}

export interface WebStack {
  api: ApiServer;
  proxy: ProxyProcess;
  upstream: TlsPostgres;
  /** The dashboard's address (the API's origin). */
  url: string;
  /** An API call as the platform admin that must succeed (2xx): its body; otherwise it throws. */
  must(method: string, path: string, body?: unknown): Promise<any>;
  close(): Promise<void>;
}

/** The platform admin user several tests sign in as (not created by startWebStack: addPlatformAdmin). */
export const PLATFORM_ADMIN = 'platform@switchyard.test';

/** Creates a platform admin user (password PASSWORD) to sign in with. */
export async function addPlatformAdmin(stack: Pick<WebStack, 'must'>, email = PLATFORM_ADMIN, name = 'Pat Platform'): Promise<void> {
  await stack.must('POST', '/api/v1/users', { email, name, password: PASSWORD, isPlatformAdmin: true });
}

async function must(api: ApiServer, method: string, path: string, body?: unknown): Promise<any> {
  const r = await api.call(method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/**
 * Tenant `acme` (loopback upstreams allowed, custom hostnames under acme.example.test) with an
 * owner and a member; tenant `globex` with its own owner. All passwords are PASSWORD. `env`
 * goes to the API, `proxyEnv` to the proxy process (pools: pools.test.ts).
 */
export async function startWebStack(databaseUrl: string, env: Record<string, string> = {}, proxyEnv: Record<string, string> = {}): Promise<WebStack> {
  ensureWebBuild();
  const upstream = await startTlsPostgres([`orders.acme.${BASE_DOMAIN}`, `billing.acme.${BASE_DOMAIN}`, 'localhost']);
  const proxy = await startProxyProcess(databaseUrl, proxyEnv);
  const api = await startApi(databaseUrl, proxy.ports, { WEB_DIST_DIR: WEB_DIST, SWITCHYARD_KEYS: TEST_KEYS, PROPAGATION_TIMEOUT_MS: '5000', ...env });
  for (const slug of ['acme', 'globex']) {
    await must(api, 'POST', '/api/v1/tenants', {
      slug,
      name: slug === 'acme' ? 'Acme Corp' : 'Globex',
      upstreamPolicy: { hostSuffixes: [`${slug}.svc.cluster.local`], cidrs: ['127.0.0.0/8'] },
      allowedCustomDomains: [`${slug}.example.test`],
    });
  }
  const people: Array<[string, string, string, 'owner' | 'member']> = [
    [USERS.owner, 'Olivia Owner', 'acme', 'owner'],
    [USERS.member, 'Max Member', 'acme', 'member'],
    [USERS.other, 'Gus Globex', 'globex', 'owner'],
  ];
  for (const [email, name, tenant, role] of people) {
    await must(api, 'POST', '/api/v1/users', { email, name, password: PASSWORD, isPlatformAdmin: false });
    await must(api, 'POST', `/api/v1/tenants/${tenant}/members`, { email, role });
  }
  return {
    api,
    proxy,
    upstream,
    url: api.url,
    must: (method, path, body) => must(api, method, path, body),
    close: async () => {
      await api.close();
      await proxy.stop();
      await upstream.cleanup();
    },
  };
}
