/**
 * Local stack settings. Everything has a default so `npm start` needs no setup; every
 * default can be overridden from the environment.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { maskUrl, StartError } from './errors.js';

/** Every variable this process reads; config.test.ts holds docs/configuration.md to it. */
export const EnvSchema = z.object({
  DATABASE_URL: z.string().url().optional(),
  SWITCHYARD_DATA_DIR: z.string().default('.switchyard'),
  SWITCHYARD_CONTROL_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54320),
  SWITCHYARD_DEMO_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54321),
  API_PORT: z.coerce.number().int().min(1).max(65535).default(8480),
  /** `npm run dev` only: the Vite dev server of the dashboard (hot reload), proxying /api to the API. */
  WEB_DEV_PORT: z.coerce.number().int().min(1).max(65535).default(5173),
  PROXY_ADMIN_PORT: z.coerce.number().int().min(1).max(65535).default(9480),
  /** The API's Prometheus metrics (apps/api config.ts), beside the proxy's 9480 and the controller's 9481; 0: none. */
  API_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9482),
  /** The proxy's own drain settings (apps/proxy config.ts), read here to give its stop the time it takes. */
  PROXY_DRAIN_TIMEOUT_MS: z.coerce.number().int().min(1).default(30_000),
  PROXY_ACCEPT_GRACE_MS: z.coerce.number().int().min(0).default(0),
  SWITCHYARD_LISTENERS: z.string().default('postgres=postgres@0.0.0.0:15432,tls=tls@0.0.0.0:16443'),
  SWITCHYARD_BASE_DOMAIN: z.string().default('db.switchyard.localhost'),
  SWITCHYARD_DEMO: z.enum(['0', '1']).default('1'),
  LOG_LEVEL: z.string().default('info'),
  /** What of the API's and proxy's logs reaches the terminal: `warn` (default) or `all`. Files get everything. */
  SWITCHYARD_CONSOLE_LOGS: z.enum(['warn', 'all']).default('warn'),
  /** Set to run the Kubernetes controller against that cluster too (never started otherwise). */
  KUBECONFIG: z.string().optional(),
  CONTROLLER_METRICS_PORT: z.coerce.number().int().min(1).max(65535).default(9481),
  /** A keyring of one's own (apps' config.ts); otherwise the stack makes a development one. */
  SWITCHYARD_KEYS: z.string().optional(),
  SWITCHYARD_KEYS_FILE: z.string().optional(),
  /** The proxy's certificate for clients without SNI; otherwise one from the dev CA. */
  PROXY_DEFAULT_CERT_FILE: z.string().optional(),
  PROXY_DEFAULT_KEY_FILE: z.string().optional(),
});

export type DevConfig = ReturnType<typeof loadDevConfig>;

export function loadDevConfig(root: string, env: NodeJS.ProcessEnv = process.env) {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    // One line per bad variable, as the apps' own config.ts do, not zod's JSON.
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}=${JSON.stringify(maskUrl(env[String(i.path[0])] ?? ''))}: ${i.message}`);
    throw new StartError(`invalid npm start configuration (docs/configuration.md "Local stack"):\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    root,
    databaseUrl: e.DATABASE_URL ?? null,
    dataDir: resolve(root, e.SWITCHYARD_DATA_DIR),
    controlPgPort: e.SWITCHYARD_CONTROL_PG_PORT,
    demoPgPort: e.SWITCHYARD_DEMO_PG_PORT,
    apiPort: e.API_PORT,
    proxyAdminPort: e.PROXY_ADMIN_PORT,
    /** 0: the API opens no metrics listener. */
    apiMetricsPort: e.API_METRICS_PORT,
    /**
     * SIGTERM → SIGKILL for the proxy: its accept grace and drain, plus the time its cluster
     * primary allows workers to exit (10 s) and its last audit flush (5 s), plus a margin.
     */
    proxyStopGraceMs: e.PROXY_ACCEPT_GRACE_MS + e.PROXY_DRAIN_TIMEOUT_MS + 20_000,
    webDevPort: e.WEB_DEV_PORT,
    listeners: e.SWITCHYARD_LISTENERS,
    baseDomain: e.SWITCHYARD_BASE_DOMAIN,
    demo: e.SWITCHYARD_DEMO === '1',
    logLevel: e.LOG_LEVEL,
    consoleLogs: e.SWITCHYARD_CONSOLE_LOGS,
    kubeconfig: e.KUBECONFIG ?? null,
    controllerMetricsPort: e.CONTROLLER_METRICS_PORT,
    /** A keyring is given in the environment (it then reaches the apps unchanged). */
    ownKeyring: Boolean(e.SWITCHYARD_KEYS || e.SWITCHYARD_KEYS_FILE),
    proxyDefaultCert: e.PROXY_DEFAULT_CERT_FILE && e.PROXY_DEFAULT_KEY_FILE ? { certFile: e.PROXY_DEFAULT_CERT_FILE, keyFile: e.PROXY_DEFAULT_KEY_FILE } : null,
    logDir: resolve(root, e.SWITCHYARD_DATA_DIR, 'logs'),
  };
}
