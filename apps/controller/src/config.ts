/**
 * The controller's whole configuration, validated once at boot. Nothing else reads
 * process.env. The route-changing settings (control database, base domain, listeners,
 * keyring, upstream rules) are the API's own (`loadConfig` of @switchyard/api): the controller
 * changes routes through the API's domain services and must judge them exactly alike.
 */
import { existsSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { loadConfig as loadApiConfig, type ApiConfig } from '@switchyard/api';
import { z } from 'zod';

/** Every variable this process reads; config.test.ts holds docs/configuration.md to it. */
export const EnvSchema = z.object({
  /** kubeconfig file (outside a cluster). Default ~/.kube/config when it exists. */
  KUBECONFIG: z.string().optional(),
  /** Set by Kubernetes in every pod: use the service account. */
  KUBERNETES_SERVICE_HOST: z.string().optional(),
  CONTROLLER_ID: z.string().min(1).optional(),
  /**
   * The cluster's DNS domain (kubelet --cluster-domain): Service names in routes and the
   * default upstream server name, <svc>.<ns>.svc.<domain>. A DNS name; a trailing dot is dropped.
   */
  CONTROLLER_CLUSTER_DOMAIN: z
    .string()
    .transform((v) => v.trim().toLowerCase().replace(/\.$/, ''))
    .pipe(z.string().regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'must be a DNS name such as cluster.local'))
    .default('cluster.local'),
  /**
   * The version TLSRoute is served at: v1 (Gateway API v1.5+, standard channel) or v1alpha2 /
   * v1alpha3 (experimental channel before v1.5). Gateway and GatewayClass are always read at v1.
   */
  CONTROLLER_GATEWAY_API_VERSION: z.enum(['v1', 'v1alpha2', 'v1alpha3']).default('v1'),
  /** Reconcile ≈ this long after the last event… */
  CONTROLLER_DEBOUNCE_MS: z.coerce.number().int().min(0).max(10_000).default(100),
  /** …but never later than this after the first one. */
  CONTROLLER_DEBOUNCE_MAX_MS: z.coerce.number().int().min(0).max(60_000).default(500),
  /** A watch silent (no event, no bookmark) this long is restarted. */
  CONTROLLER_WATCH_SILENCE_MS: z.coerce.number().int().min(100).max(3_600_000).default(90_000),
  /** Full relist of every resource this often (safety net). */
  CONTROLLER_RELIST_INTERVAL_MS: z.coerce.number().int().min(1000).max(86_400_000).default(600_000),
  /** Server-side timeout of one watch request; the stream is then re-opened. */
  CONTROLLER_WATCH_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  CONTROLLER_BACKOFF_MIN_MS: z.coerce.number().int().min(10).max(60_000).default(500),
  CONTROLLER_BACKOFF_MAX_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /** How often the leader checks its lock session and followers try to take it. */
  CONTROLLER_LEADER_CHECK_MS: z.coerce.number().int().min(100).max(60_000).default(2000),
  CONTROLLER_METRICS_HOST: z.string().default('0.0.0.0'),
  CONTROLLER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9481),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface ControllerConfig {
  api: ApiConfig;
  /** null: in cluster (service account). */
  kubeconfig: string | null;
  inCluster: boolean;
  id: string;
  clusterDomain: string;
  gatewayApiVersion: string;
  debounceMs: number;
  debounceMaxMs: number;
  watch: { silenceMs: number; relistMs: number; watchTimeoutSeconds: number; backoffMinMs: number; backoffMaxMs: number };
  leaderCheckMs: number;
  metricsHost: string;
  metricsPort: number;
  logLevel: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  const parsed = EnvSchema.safeParse(env);
  // Every bad variable in one message: the controller's own and the API's it also reads.
  let api: ApiConfig | null = null;
  let apiProblems: string[] = [];
  try {
    api = loadApiConfig(env);
  } catch (err) {
    // "invalid API configuration:\n  NAME: problem\n…": keep the lines naming variables.
    apiProblems = (err as Error).message.split('\n').slice(1);
  }
  if (!parsed.success || !api) {
    const own = parsed.success ? [] : parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid controller configuration:\n${[...own, ...apiProblems].join('\n')}`);
  }
  const e = parsed.data;
  const inCluster = Boolean(e.KUBERNETES_SERVICE_HOST) && !e.KUBECONFIG;
  const fallback = join(homedir(), '.kube', 'config');
  const kubeconfig = inCluster ? null : (e.KUBECONFIG ?? (existsSync(fallback) ? fallback : null));
  return {
    api,
    kubeconfig,
    inCluster,
    id: e.CONTROLLER_ID ?? `${hostname()}-${process.pid}`,
    clusterDomain: e.CONTROLLER_CLUSTER_DOMAIN,
    gatewayApiVersion: e.CONTROLLER_GATEWAY_API_VERSION,
    debounceMs: e.CONTROLLER_DEBOUNCE_MS,
    debounceMaxMs: Math.max(e.CONTROLLER_DEBOUNCE_MAX_MS, e.CONTROLLER_DEBOUNCE_MS),
    watch: {
      silenceMs: e.CONTROLLER_WATCH_SILENCE_MS,
      relistMs: e.CONTROLLER_RELIST_INTERVAL_MS,
      watchTimeoutSeconds: e.CONTROLLER_WATCH_TIMEOUT_SECONDS,
      backoffMinMs: e.CONTROLLER_BACKOFF_MIN_MS,
      backoffMaxMs: e.CONTROLLER_BACKOFF_MAX_MS,
    },
    leaderCheckMs: e.CONTROLLER_LEADER_CHECK_MS,
    metricsHost: e.CONTROLLER_METRICS_HOST,
    metricsPort: e.CONTROLLER_METRICS_PORT,
    logLevel: e.LOG_LEVEL,
  };
}
