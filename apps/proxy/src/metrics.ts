/**
 * Prometheus metrics. Labels are low-cardinality by design (listener, outcome, reason,
 * kind); per-route figures come from connection events in the control database.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
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
      help: 'Malformed handshakes by parser error kind',
      labelNames: ['listener', 'kind'],
      registers: [registry],
    }),
    bytes: new Counter({
      name: 'switchyard_proxy_bytes_total',
      help: 'Bytes proxied (in = from clients, out = to clients), counted when connections end',
      labelNames: ['listener', 'direction'],
      registers: [registry],
    }),
    tableVersion: new Gauge({
      name: 'switchyard_proxy_config_version',
      help: 'Config version of the route table in use',
      registers: [registry],
    }),
    tableRoutes: new Gauge({
      name: 'switchyard_proxy_routes',
      help: 'Routes in the table in use',
      registers: [registry],
    }),
    applyLag: new Histogram({
      name: 'switchyard_proxy_config_apply_seconds',
      help: 'Time from a route change commit to this proxy applying it',
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
      help: 'Connection events dropped because the queue was full (control database unreachable for long)',
      registers: [registry],
    }),
    healthChecks: new Counter({
      name: 'switchyard_proxy_health_checks_total',
      help: 'Active upstream health checks by result',
      labelNames: ['result'],
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
