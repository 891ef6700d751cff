/**
 * Prometheus metrics. Labels are low-cardinality by design (listener, outcome, reason,
 * kind). Per-route series carry a `route` label (the route id by default, or the host name)
 * for at most `routeLabelMax` routes per process; later routes share `route="_other"`, so
 * 100,000 routes cannot blow up the scrape. Full per-route history is in the connection
 * events in the control database.
 *
 * In cluster mode each worker fills its own registry and the primary merges them with its
 * own (`cluster/metrics.ts`); `aggregator` says how a metric combines across processes
 * (default: sum). The primary owns route sync and the audit writer, so those series come
 * from it; connection series come from the workers.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type RouteLabelMode = 'id' | 'hostname' | 'off';

/** Route label values with a cap on how many distinct values one process emits. */
export class RouteLabels {
  private readonly seen = new Set<string>();
  constructor(
    readonly mode: RouteLabelMode,
    private readonly max: number,
  ) {}

  /** The label for a connection's route (`_none` before one matched); null when off. */
  label(route: { id: string; hostname: string } | null): string | null {
    if (this.mode === 'off') return null;
    if (!route) return '_none';
    const v = this.mode === 'hostname' ? route.hostname : route.id;
    if (this.seen.has(v)) return v;
    if (this.seen.size >= this.max) return '_other';
    this.seen.add(v);
    return v;
  }
}

export interface MetricsOptions {
  routeLabel: RouteLabelMode;
  routeLabelMax: number;
}

export function createMetrics(opts: MetricsOptions = { routeLabel: 'id', routeLabelMax: 1000 }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'switchyard_proxy_' });
  const m = {
    registry,
    connectionsOpen: new Gauge({
      name: 'switchyard_proxy_connections_open',
      help: 'Client connections currently open (sniffing or proxied)',
      labelNames: ['listener'],
      registers: [registry],
    }),
    connectionsRouted: new Counter({
      name: 'switchyard_proxy_connections_routed_total',
      help: 'Connections handed to an upstream',
      labelNames: ['listener'],
      registers: [registry],
    }),
    connectionsClosed: new Counter({
      name: 'switchyard_proxy_connections_total',
      help: 'Finished connections by outcome and reason',
      labelNames: ['listener', 'outcome', 'reason'],
      registers: [registry],
    }),
    handshakeErrors: new Counter({
      name: 'switchyard_proxy_handshake_errors_total',
      help: 'Failed handshakes by kind (parser error kinds, and timeout)',
      labelNames: ['listener', 'kind'],
      registers: [registry],
    }),
    bytes: new Counter({
      name: 'switchyard_proxy_bytes_total',
      help: 'Bytes proxied (in = from clients, out = to clients), counted when connections end',
      labelNames: ['listener', 'direction'],
      registers: [registry],
    }),
    routeLabels: new RouteLabels(opts.routeLabel, opts.routeLabelMax),
    routeConnections: new Counter({
      name: 'switchyard_proxy_route_connections_total',
      help: 'Finished connections by route and outcome (route label capped; see PROXY_METRICS_ROUTE_LABEL)',
      labelNames: ['route', 'outcome'],
      registers: [registry],
    }),
    routeBytes: new Counter({
      name: 'switchyard_proxy_route_bytes_total',
      help: 'Bytes proxied by route (in = from clients, out = to clients), counted when connections end',
      labelNames: ['route', 'direction'],
      registers: [registry],
    }),
    tableVersion: new Gauge({
      name: 'switchyard_proxy_config_version',
      help: 'Config version of the route table in use (cluster: the lowest any worker serves)',
      aggregator: 'min',
      registers: [registry],
    }),
    tableRoutes: new Gauge({
      name: 'switchyard_proxy_routes',
      help: 'Routes in the table in use',
      aggregator: 'max',
      registers: [registry],
    }),
    applyLag: new Histogram({
      name: 'switchyard_proxy_config_apply_seconds',
      help: 'Time from a route change commit (config_changes.created_at) to the new table serving connections',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    syncs: new Counter({
      name: 'switchyard_proxy_route_syncs_total',
      help: 'Route table loads by kind (full, delta) and result',
      labelNames: ['kind', 'result'],
      registers: [registry],
    }),
    controlDbUp: new Gauge({
      name: 'switchyard_proxy_control_db_up',
      help: '1 while the LISTEN connection to the control database is established',
      aggregator: 'max',
      registers: [registry],
    }),
    auditQueued: new Gauge({
      name: 'switchyard_proxy_audit_queue_length',
      help: 'Connection events waiting to be written',
      registers: [registry],
    }),
    auditWritten: new Counter({
      name: 'switchyard_proxy_audit_events_written_total',
      help: 'Connection events written to the control database',
      registers: [registry],
    }),
    auditDropped: new Counter({
      name: 'switchyard_proxy_audit_events_dropped_total',
      help: 'Connection events dropped: queue full while the control database was unreachable, or unwritten at shutdown',
      registers: [registry],
    }),
    healthChecks: new Counter({
      name: 'switchyard_proxy_health_checks_total',
      help: 'Active upstream health checks by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    workerConnections: new Counter({
      name: 'switchyard_proxy_worker_connections_total',
      help: 'Connections accepted, by cluster worker id (absent in single-process mode)',
      labelNames: ['worker'],
      registers: [registry],
    }),
    workersLive: new Gauge({
      name: 'switchyard_proxy_workers',
      help: 'Cluster workers accepting connections (0 in single-process mode)',
      registers: [registry],
    }),
    workerRestarts: new Counter({
      name: 'switchyard_proxy_worker_restarts_total',
      help: 'Cluster workers that exited unexpectedly and were started again',
      registers: [registry],
    }),
    endpointTransitions: new Counter({
      name: 'switchyard_proxy_endpoint_transitions_total',
      help: 'Upstream endpoints marked down or up again by health checks',
      labelNames: ['to'],
      registers: [registry],
    }),
  };
  return m;
}

export type ProxyMetrics = ReturnType<typeof createMetrics>;
