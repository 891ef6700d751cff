/**
 * The whole product on one machine (started by main.ts in its own process group).
 *   1. control database: DATABASE_URL, or an embedded PostgreSQL under .switchyard/
 *   2. migrations
 *   3. a demo upstream: a second embedded PostgreSQL with TLS (certificate from a local CA)
 *   4. the API (+ dashboard) and the proxy, as child processes
 *   5. a platform admin user, a demo tenant with its owner user, token and database, created
 *      through the API (passwords kept in .switchyard/secrets.json)
 * and prints how to toggle access with curl and connect with psql through the proxy.
 *
 * Stopping is ordered: proxy and API drain first (the proxy writes its last connection
 * events), the databases stop last. This process therefore owns SIGINT/SIGTERM: the
 * embedded servers' own hooks are removed (`ownSignals`), and main.ts keeps the terminal's
 * Ctrl-C away from the servers by running us in a process group of our own.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseListeners } from '@switchyard/core';
import { migrate, type RunningPostgres } from '@switchyard/db';
import pg from 'pg';
import { loadDevConfig, type DevConfig } from './config.js';
import { startDevPostgres } from './dev-postgres.js';
import { describeStartError, maskUrl } from './errors.js';
import { Lifecycle } from './lifecycle.js';
import { issueDevCertificate, loadOrCreateDevCa } from './local-pki.js';
import { acquireStackLock, checkControlDatabase, checkPortsFree, type PortNeed } from './preflight.js';
import { startProcess, waitForHttp, type ManagedProcess } from './supervisor.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const devMode = process.argv.includes('--dev');
const say = (s = '') => process.stdout.write(`${s}\n`);

let cfg: DevConfig;
try {
  cfg = loadDevConfig(root);
} catch (err) {
  say(`start failed: ${describeStartError(err)}`);
  process.exit(1);
}

const life = new Lifecycle();
let releaseLock = (): void => {};

/** Stops everything in order, then exits; a call made while stopping waits for that stop. */
async function shutdown(code: number): Promise<never> {
  const announce = !life.stopping && !life.idle;
  if (announce) say('\nstopping Switchyard…');
  await life.stop();
  releaseLock();
  // The terminal's last line says it is over (data and logs stay in .switchyard/).
  if (announce && code === 0) say('Switchyard stopped.');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
// main.ts is gone (killed, or its terminal closed): stop in order rather than linger.
process.on('disconnect', () => void shutdown(0));

interface Secrets {
  adminToken: string;
  /** Password of ADMIN_EMAIL (platform admin). */
  adminPassword: string;
  /** Password of DEMO_EMAIL (owner of the demo tenant). */
  demoPassword: string;
  /** Development keyring (`dev1:base64key`) encrypting certificate private keys at rest. */
  keyring: string;
}

const ADMIN_EMAIL = 'admin@switchyard.localhost';
const DEMO_EMAIL = 'demo@switchyard.localhost';

/** Generated once and kept (0600) in the data dir; fields missing from older files are added. */
function secrets(): Secrets {
  const path = join(cfg.dataDir, 'secrets.json');
  const old = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Partial<Secrets>) : {};
  const s: Secrets = {
    adminToken: old.adminToken ?? `sy_admin_${randomBytes(32).toString('base64url')}`,
    adminPassword: old.adminPassword ?? randomBytes(15).toString('base64url'),
    demoPassword: old.demoPassword ?? randomBytes(15).toString('base64url'),
    keyring: old.keyring ?? `dev1:${randomBytes(32).toString('base64')}`,
  };
  if (JSON.stringify(old) !== JSON.stringify(s)) writeFileSync(path, JSON.stringify(s, null, 2), { mode: 0o600 });
  return s;
}

async function controlDatabase(): Promise<string> {
  if (cfg.databaseUrl) {
    await checkControlDatabase(cfg.databaseUrl);
    return cfg.databaseUrl;
  }
  say(`starting embedded PostgreSQL for the control database on 127.0.0.1:${cfg.controlPgPort}`);
  const server = await life.startDatabase(() =>
    startDevPostgres('the control database', {
      dataDir: join(cfg.dataDir, 'control-pg'),
      port: cfg.controlPgPort,
      persistent: true,
      ownSignals: true,
      logFile: join(cfg.logDir, 'control-pg.log'),
      portVariable: 'SWITCHYARD_CONTROL_PG_PORT',
    }),
  );
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = 'switchyard'");
  if (exists.rowCount === 0) await admin.query('CREATE DATABASE switchyard');
  await admin.end();
  return server.url.replace(/\/postgres$/, '/switchyard');
}

async function demoUpstream(hostname: string): Promise<RunningPostgres> {
  const ca = loadOrCreateDevCa(cfg.dataDir);
  say(`starting the demo PostgreSQL (TLS on) on 127.0.0.1:${cfg.demoPgPort}`);
  const leaf = issueDevCertificate(ca, [hostname, 'localhost', '127.0.0.1']);
  return life.startDatabase(() =>
    startDevPostgres('the demo database', {
      dataDir: join(cfg.dataDir, 'demo-pg'),
      port: cfg.demoPgPort,
      persistent: true,
      ownSignals: true,
      tls: { certPem: leaf.certPem + ca.certPem, keyPem: leaf.keyPem },
      logFile: join(cfg.logDir, 'demo-pg.log'),
      portVariable: 'SWITCHYARD_DEMO_PG_PORT',
    }),
  );
}

async function api<T>(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: T }> {
  const r = await fetch(`http://127.0.0.1:${cfg.apiPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: (await r.json().catch(() => null)) as T };
}

/** Creates the user if missing, or sets the password kept in secrets.json; returns its id. */
async function ensureUser(adminToken: string, email: string, name: string, password: string, isPlatformAdmin: boolean): Promise<string> {
  const list = await api<{ items: Array<{ id: string; email: string }> }>('GET', '/api/v1/users', adminToken);
  if (list.status !== 200) throw new Error(`listing users failed: ${JSON.stringify(list.body)}`);
  const existing = list.body.items.find((u) => u.email === email);
  if (existing) {
    // Keep the printed password true even if someone changed it in the dashboard.
    const r = await api('PATCH', `/api/v1/users/${existing.id}`, adminToken, { password, disabled: false });
    if (r.status !== 200) throw new Error(`resetting ${email} failed: ${JSON.stringify(r.body)}`);
    return existing.id;
  }
  const c = await api<{ id: string }>('POST', '/api/v1/users', adminToken, { email, name, password, isPlatformAdmin });
  if (c.status !== 201) throw new Error(`creating ${email} failed: ${JSON.stringify(c.body)}`);
  return c.body.id;
}

async function seedDemo(adminToken: string, demoPassword: string): Promise<string> {
  const t = await api('GET', '/api/v1/tenants/demo', adminToken);
  if (t.status === 404) {
    const c = await api('POST', '/api/v1/tenants', adminToken, {
      slug: 'demo',
      name: 'Demo tenant',
      upstreamPolicy: { hostSuffixes: ['demo.svc.cluster.local'], cidrs: ['127.0.0.1/32'] },
    });
    if (c.status !== 201) throw new Error(`creating the demo tenant failed: ${JSON.stringify(c.body)}`);
  }
  const demoUser = await ensureUser(adminToken, DEMO_EMAIL, 'Demo owner', demoPassword, false);
  const members = await api<{ items: Array<{ userId: string }> }>('GET', '/api/v1/tenants/demo/members', adminToken);
  if (!members.body.items.some((m) => m.userId === demoUser)) {
    const c = await api('POST', '/api/v1/tenants/demo/members', adminToken, { email: DEMO_EMAIL, role: 'owner' });
    if (c.status !== 201) throw new Error(`adding the demo owner failed: ${JSON.stringify(c.body)}`);
  }
  const tokenPath = join(cfg.dataDir, 'demo-token');
  let token = existsSync(tokenPath) ? readFileSync(tokenPath, 'utf8').trim() : '';
  if (!token || (await api('GET', '/api/v1/tenants/demo', token)).status !== 200) {
    const c = await api<{ token: string }>('POST', '/api/v1/tenants/demo/tokens', adminToken, { name: 'demo (npm start)', role: 'owner' });
    if (c.status !== 201) throw new Error(`creating the demo token failed: ${JSON.stringify(c.body)}`);
    token = c.body.token;
    writeFileSync(tokenPath, `${token}\n`, { mode: 0o600 });
  }
  const d = await api('GET', '/api/v1/tenants/demo/databases/orders', token);
  if (d.status === 404) {
    const c = await api('POST', '/api/v1/tenants/demo/databases', token, {
      name: 'orders',
      engine: 'postgres',
      upstream: { host: '127.0.0.1', port: cfg.demoPgPort },
    });
    if (c.status !== 201) throw new Error(`creating the demo database failed: ${JSON.stringify(c.body)}`);
  }
  return token;
}

const ENTRIES = { api: 'apps/api/%s/server.%s', proxy: 'apps/proxy/%s/main.%s', controller: 'apps/controller/%s/main.%s' } as const;

function launch(name: keyof typeof ENTRIES, env: NodeJS.ProcessEnv): ManagedProcess {
  const entry = ENTRIES[name];
  const args = devMode
    ? ['--conditions=switchyard-source', '--import', 'tsx', join(root, entry.replace('%s', 'src').replace('%s', 'ts'))]
    : [join(root, entry.replace('%s', 'dist').replace('%s', 'js'))];
  const logFile = join(cfg.logDir, `${name}.log`);
  return life.startProcess(() =>
    startProcess(
      name,
      args,
      env,
      (code) => {
        if (!life.stopping) {
          say(`${name} exited with code ${code}; stopping (its log: ${relative(process.cwd(), logFile)})`);
          void shutdown(1);
        }
      },
      // The terminal keeps the summary readable: warnings and errors only, unless asked.
      { logFile, consoleLevel: devMode || cfg.consoleLogs === 'all' ? 0 : 40, stopGraceMs: name === 'proxy' ? cfg.proxyStopGraceMs : undefined },
    ),
  );
}

/** Every port the stack binds, with the variable that moves it (checked before starting). */
function portsNeeded(): PortNeed[] {
  const needs: PortNeed[] = [];
  if (!cfg.databaseUrl) needs.push({ host: '127.0.0.1', port: cfg.controlPgPort, what: 'embedded control database', variable: 'SWITCHYARD_CONTROL_PG_PORT' });
  if (cfg.demo) needs.push({ host: '127.0.0.1', port: cfg.demoPgPort, what: 'demo database', variable: 'SWITCHYARD_DEMO_PG_PORT' });
  needs.push({ host: '127.0.0.1', port: cfg.apiPort, what: 'API and dashboard', variable: 'API_PORT' });
  if (cfg.apiMetricsPort > 0) needs.push({ host: '127.0.0.1', port: cfg.apiMetricsPort, what: 'API metrics', variable: 'API_METRICS_PORT' });
  needs.push({ host: '0.0.0.0', port: cfg.proxyAdminPort, what: 'proxy admin and metrics', variable: 'PROXY_ADMIN_PORT' });
  for (const l of parseListeners(cfg.listeners)) needs.push({ host: l.host, port: l.port, what: `proxy listener "${l.name}"`, variable: 'SWITCHYARD_LISTENERS' });
  if (devMode) needs.push({ host: '127.0.0.1', port: cfg.webDevPort, what: 'dashboard dev server', variable: 'WEB_DEV_PORT' });
  if (cfg.kubeconfig) needs.push({ host: '127.0.0.1', port: cfg.controllerMetricsPort, what: 'controller metrics', variable: 'CONTROLLER_METRICS_PORT' });
  return needs;
}

try {
  mkdirSync(cfg.dataDir, { recursive: true, mode: 0o755 });
  mkdirSync(cfg.logDir, { recursive: true });
  releaseLock = acquireStackLock(cfg.dataDir);
  await checkPortsFree(portsNeeded());
  const { adminToken, adminPassword, demoPassword, keyring } = secrets();
  const databaseUrl = await controlDatabase();
  const m = await migrate(databaseUrl);
  if (m.applied.length) say(`applied migrations: ${m.applied.join(', ')}`);
  const demoHost = `orders.demo.${cfg.baseDomain}`;
  if (cfg.demo) await demoUpstream(demoHost);

  const common = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    SWITCHYARD_LISTENERS: cfg.listeners,
    SWITCHYARD_BASE_DOMAIN: cfg.baseDomain,
    LOG_LEVEL: cfg.logLevel,
    // Terminate mode needs private keys, kept encrypted at rest with this keyring. A keyring
    // given in the environment wins; otherwise a development one from secrets.json.
    ...(cfg.ownKeyring ? {} : { SWITCHYARD_KEYS: keyring }),
  };
  const apiProc = launch('api', {
    ...common,
    API_PORT: String(cfg.apiPort),
    API_HOST: '127.0.0.1',
    // Prometheus metrics on their own port, like in a cluster, but on this machine only.
    API_METRICS_HOST: '127.0.0.1',
    API_METRICS_PORT: String(cfg.apiMetricsPort),
    SWITCHYARD_ADMIN_TOKEN: adminToken,
    // The demo database runs on this machine, so its upstream is a loopback address.
    SWITCHYARD_ALLOW_LOOPBACK_UPSTREAMS: 'true',
    WEB_DIST_DIR: join(root, 'apps/web/dist'),
  });
  // Presented to PostgreSQL clients without SNI (options=endpoint=…, docs/proxy.md): a
  // wildcard for the base domain's tenants and the loopback address, from the dev CA.
  const fallback = issueDevCertificate(loadOrCreateDevCa(cfg.dataDir), [`*.demo.${cfg.baseDomain}`, `*.${cfg.baseDomain}`, '127.0.0.1']);
  const fallbackDir = join(cfg.dataDir, 'pki');
  mkdirSync(fallbackDir, { recursive: true });
  writeFileSync(join(fallbackDir, 'proxy-default.crt'), fallback.certPem);
  writeFileSync(join(fallbackDir, 'proxy-default.key'), fallback.keyPem, { mode: 0o600 });
  const proxyProc = launch('proxy', {
    ...common,
    PROXY_ADMIN_PORT: String(cfg.proxyAdminPort),
    PROXY_ID: 'local-proxy',
    PROXY_DEFAULT_CERT_FILE: cfg.proxyDefaultCert?.certFile ?? join(fallbackDir, 'proxy-default.crt'),
    PROXY_DEFAULT_KEY_FILE: cfg.proxyDefaultCert?.keyFile ?? join(fallbackDir, 'proxy-default.key'),
  });
  await waitForHttp(`http://127.0.0.1:${cfg.apiPort}/readyz`, 60_000, () => apiProc.child.exitCode === null);
  await waitForHttp(`http://127.0.0.1:${cfg.proxyAdminPort}/readyz`, 60_000, () => proxyProc.child.exitCode === null);
  // `npm run dev`: the dashboard from its sources with hot reload; Vite proxies /api to the API
  // (one origin for the browser, so the session cookie and CSRF work as in production).
  let webDevUrl: string | null = null;
  if (devMode) {
    const logFile = join(cfg.logDir, 'web.log');
    const vite = life.startProcess(() =>
      startProcess(
        'web',
        [join(root, 'node_modules/vite/bin/vite.js'), join(root, 'apps/web'), '--host', '127.0.0.1', '--port', String(cfg.webDevPort), '--strictPort'],
        { ...process.env, SWITCHYARD_API_URL: `http://127.0.0.1:${cfg.apiPort}` },
        (code) => {
          if (!life.stopping) {
            say(`web (vite) exited with code ${code}; stopping (its log: ${relative(process.cwd(), logFile)})`);
            void shutdown(1);
          }
        },
        { logFile, consoleLevel: 0 },
      ),
    );
    webDevUrl = `http://127.0.0.1:${cfg.webDevPort}/`;
    await waitForHttp(webDevUrl, 60_000, () => vite.child.exitCode === null);
  }
  // The Kubernetes controller needs a cluster: only with an explicit KUBECONFIG.
  if (cfg.kubeconfig) {
    launch('controller', {
      ...common,
      KUBECONFIG: cfg.kubeconfig,
      CONTROLLER_METRICS_HOST: '127.0.0.1',
      CONTROLLER_METRICS_PORT: String(cfg.controllerMetricsPort),
      SWITCHYARD_ALLOW_LOOPBACK_UPSTREAMS: 'true',
    });
  }

  const listeners = parseListeners(cfg.listeners);
  const pgPort = listeners.find((l) => l.protocol === 'postgres')?.publicPort ?? 15432;
  const base = `http://127.0.0.1:${cfg.apiPort}`;
  // Seed first, print after: the summary comes out in one piece, dashboard and sign-ins on top.
  await ensureUser(adminToken, ADMIN_EMAIL, 'Platform admin', adminPassword, true);
  const token = cfg.demo ? await seedDemo(adminToken, demoPassword) : null;
  const rel = (p: string) => relative(process.cwd(), p) || p;
  say('');
  say('Switchyard is running.');
  say('');
  say(`  Dashboard        ${webDevUrl ? `${webDevUrl}   (Vite dev server, hot reload; built copy at ${base}/ after npm run build)` : `${base}/`}`);
  say(`  Sign in          ${ADMIN_EMAIL} / ${adminPassword}   (platform admin)`);
  if (cfg.demo) say(`                   ${DEMO_EMAIL} / ${demoPassword}   (owner of tenant "demo")`);
  say('');
  say(`  API              ${base}/api/v1   (OpenAPI: ${base}/docs; admin token in ${rel(join(cfg.dataDir, 'secrets.json'))})`);
  if (cfg.apiMetricsPort > 0) say(`  API metrics      http://127.0.0.1:${cfg.apiMetricsPort}/metrics`);
  say(`  Proxy listeners  ${listeners.map((l) => `${l.name} :${l.port} (${l.protocol})`).join(', ')}`);
  say(`  Proxy admin      http://127.0.0.1:${cfg.proxyAdminPort}/readyz  /metrics`);
  say(
    cfg.kubeconfig
      ? `  Kubernetes       controller watching ${cfg.kubeconfig} (metrics http://127.0.0.1:${cfg.controllerMetricsPort}/metrics; docs/kubernetes.md)`
      : '  Kubernetes       controller not started: no KUBECONFIG set (docs/kubernetes.md)',
  );
  say(`  Control database ${maskUrl(databaseUrl)}`);
  say(`  Logs             ${rel(join(cfg.logDir, 'api.log'))}, ${rel(join(cfg.logDir, 'proxy.log'))}   (warnings and errors also here; SWITCHYARD_CONSOLE_LOGS=all for everything)`);
  if (token) {
    const ca = rel(join(cfg.dataDir, 'pki', 'ca.pem'));
    say('');
    say('Demo: tenant "demo", database "orders" (a PostgreSQL with TLS on 127.0.0.1:' + cfg.demoPgPort + '). In the dashboard: sign in as the demo owner,');
    say('open the database and flip "External access". Or from a terminal:');
    say(`  export TOKEN=${token}`);
    say('');
    say('  # enable external access (waits until the proxy applied it):');
    say(`  curl -sS -X PUT '${base}/api/v1/tenants/demo/databases/orders/external-access?wait=true' \\`);
    say(`    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\`);
    say(`    -d '{"enabled": true, "tlsMode": "passthrough"}'`);
    say('');
    say('  # connect through the proxy (SNI routes it; hostaddr skips DNS; password: postgres):');
    say(`  PGPASSWORD=postgres psql "host=${demoHost} hostaddr=127.0.0.1 port=${pgPort} user=postgres dbname=postgres sslmode=verify-full sslrootcert=${ca}"`);
    say('');
    say('  # or let the proxy terminate TLS with a certificate from the platform CA:');
    say(`  curl -sS -X PUT '${base}/api/v1/tenants/demo/databases/orders/external-access?wait=true' \\`);
    say(`    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\`);
    say(`    -d '{"enabled": true, "tlsMode": "terminate"}'`);
    say(`  curl -sS ${base}/api/v1/pki/ca.pem -o platform-ca.pem`);
    say(`  PGPASSWORD=postgres psql "host=${demoHost} hostaddr=127.0.0.1 port=${pgPort} user=postgres dbname=postgres sslmode=verify-full sslrootcert=platform-ca.pem channel_binding=disable"`);
    say('  # (channel binding binds to the TLS session the database sees, which is the proxy\'s: docs/proxy.md)');
    say('  # terminate mode, a client without SNI names its database in the options (Neon convention):');
    say(`  PGPASSWORD=postgres psql "host=127.0.0.1 port=${pgPort} sslsni=0 user=postgres dbname=postgres sslmode=verify-full sslrootcert=${ca} channel_binding=disable options=endpoint=orders.demo"`);
    say('');
    say('  # disable it again: the same curl with {"enabled": false}; new connections are then refused.');
  }
  say('');
  say('Press Ctrl-C to stop.');
} catch (err) {
  // Ctrl-C (or a child that exited, which said so) stopped the stack under the start-up code:
  // what failed after that is the stop itself, not news.
  if (!life.stopping) say(`start failed: ${describeStartError(err)}`);
  await shutdown(1);
}
