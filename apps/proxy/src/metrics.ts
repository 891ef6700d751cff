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

/** One label set's pending count: the hot path adds to `n`; the metric takes it when read. */
export interface Cell {
  n: number;
}

/**
 * The hot-path side of a labelled counter or gauge. prom-client hashes and validates the
 * label object on every `inc` (a string built per call); a connection bumps ~10 series, so
 * each connection resolves its cells once from a listener's cached set (`ListenerCounters`)
 * and adds plain numbers. Pending counts reach prom-client when the registry is read
 * (`collect`: a scrape, or the cluster merge) — the exported values are the same.
 */
export class Cells<L extends string> {
  private readonly cells: Array<Cell & { labels: Partial<Record<L, string>>; exported: boolean }> = [];

  /** A cell for one label set. Resolve it once and keep it: every call adds one. */
  cell(labels: Partial<Record<L, string>>): Cell {
    const c = { labels, n: 0, exported: false };
    this.cells.push(c);
    return c;
  }

  flushInto(metric: { inc(labels: Partial<Record<L, string>>, value: number): void; dec?(labels: Partial<Record<L, string>>, value: number): void }): void {
    for (const c of this.cells) {
      if (c.n === 0) {
        // A series exists from its first read, at 0 (a listener nobody used yet, open
        // connections that came and went between scrapes): "no data" would hide it from
        // dashboards and from rates and alerts that compare it.
        if (!c.exported) metric.inc(c.labels, 0);
        c.exported = true;
        continue;
      }
      c.exported = true;
      const n = c.n;
      c.n = 0;
      if (n > 0) metric.inc(c.labels, n);
      else metric.dec!(c.labels, -n);
    }
  }
}

/** Cells that depend on a value (outcome, reason, route): made once per distinct key, then reused. */
class CellMap<L extends string> {
  private readonly byKey = new Map<string, Cell>();
  constructor(
    private readonly cells: Cells<L>,
    private readonly labels: (key: string) => Partial<Record<L, string>>,
  ) {}

  get(key: string): Cell {
    let c = this.byKey.get(key);
    if (!c) {
      c = this.cells.cell(this.labels(key));
      this.byKey.set(key, c);
    }
    return c;
  }
}

/** What a connection on one listener counts; built once per listener (`ListenerContext`). */
export class ListenerCounters {
  readonly open: Cell;
  readonly routed: Cell;
  readonly bytesIn: Cell;
  readonly bytesOut: Cell;
  /** By outcome, then reason (both from fixed lists). */
  private readonly closedBy = new Map<string, CellMap<'listener' | 'outcome' | 'reason'>>();

  constructor(
    private readonly m: ProxyMetrics,
    private readonly listener: string,
  ) {
    this.open = m.cells.open.cell({ listener });
    this.routed = m.cells.routed.cell({ listener });
    this.bytesIn = m.cells.bytes.cell({ listener, direction: 'in' });
    this.bytesOut = m.cells.bytes.cell({ listener, direction: 'out' });
  }

  closed(outcome: string, reason: string): Cell {
    let byReason = this.closedBy.get(outcome);
    if (!byReason) {
      const listener = this.listener;
      byReason = new CellMap(this.m.cells.closed, (r) => ({ listener, outcome, reason: r }));
      this.closedBy.set(outcome, byReason);
    }
    return byReason.get(reason);
  }

  /** Per-route series of a connection's route label (`RouteLabels.label`). */
  route(label: string): RouteCells {
    return this.m.routeCells(label);
  }
}

/** The per-route series of one route label. */
export class RouteCells {
  readonly bytesIn: Cell;
  readonly bytesOut: Cell;
  private readonly byOutcome: CellMap<'route' | 'outcome'>;
  constructor(cells: ProxyMetrics['cells'], route: string) {
    this.bytesIn = cells.routeBytes.cell({ route, direction: 'in' });
    this.bytesOut = cells.routeBytes.cell({ route, direction: 'out' });
    this.byOutcome = new CellMap(cells.routeConnections, (outcome) => ({ route, outcome }));
  }

  outcome(outcome: string): Cell {
    return this.byOutcome.get(outcome);
  }
}

export interface MetricsOptions {
  routeLabel: RouteLabelMode;
  routeLabelMax: number;
}

export function createMetrics(opts: MetricsOptions = { routeLabel: 'id', routeLabelMax: 1000 }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'switchyard_proxy_' });
  const cells = {
    open: new Cells<'listener'>(),
    routed: new Cells<'listener'>(),
    closed: new Cells<'listener' | 'outcome' | 'reason'>(),
    bytes: new Cells<'listener' | 'direction'>(),
    routeConnections: new Cells<'route' | 'outcome'>(),
    routeBytes: new Cells<'route' | 'direction'>(),
  };
  const routeCells = new Map<string, RouteCells>();
  const auditQueue: { length: (() => number) | null } = { length: null };
  const m = {
    registry,
    /** Hot-path counts (see `Cells`); connections use them through `ListenerCounters`. */
    cells,
    /** The per-route cells of a route label (bounded: labels are capped by `RouteLabels`). */
    routeCells(label: string): RouteCells {
      let c = routeCells.get(label);
      if (!c) {
        c = new RouteCells(cells, label);
        routeCells.set(label, c);
      }
      return c;
    },
    connectionsOpen: new Gauge({
      name: 'switchyard_proxy_connections_open',
      help: 'Client connections currently open (sniffing or proxied)',
      labelNames: ['listener'],
      registers: [registry],
      collect() {
        cells.open.flushInto(this);
      },
    }),
    connectionsRouted: new Counter({
      name: 'switchyard_proxy_connections_routed_total',
      help: 'Connections handed to an upstream',
      labelNames: ['listener'],
      registers: [registry],
      collect() {
        cells.routed.flushInto(this);
      },
    }),
    connectionsClosed: new Counter({
      name: 'switchyard_proxy_connections_total',
      help: 'Finished connections by outcome and reason',
      labelNames: ['listener', 'outcome', 'reason'],
      registers: [registry],
      collect() {
        cells.closed.flushInto(this);
      },
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
      collect() {
        cells.bytes.flushInto(this);
      },
    }),
    routeLabels: new RouteLabels(opts.routeLabel, opts.routeLabelMax),
    routeConnections: new Counter({
      name: 'switchyard_proxy_route_connections_total',
      help: 'Finished connections by route and outcome (route label capped; see PROXY_METRICS_ROUTE_LABEL)',
      labelNames: ['route', 'outcome'],
      registers: [registry],
      collect() {
        cells.routeConnections.flushInto(this);
      },
    }),
    routeBytes: new Counter({
      name: 'switchyard_proxy_route_bytes_total',
      help: 'Bytes proxied by route (in = from clients, out = to clients), counted when connections end',
      labelNames: ['route', 'direction'],
      registers: [registry],
      collect() {
        cells.routeBytes.flushInto(this);
      },
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
    /**
     * Read from the connection log when scraped (`auditQueueLength`), not set on every
     * connection: a gauge `set` hashes its labels each time (issue 13).
     */
    auditQueued: new Gauge({
      name: 'switchyard_proxy_audit_queue_length',
      help: 'Connection events waiting to be written',
      registers: [registry],
      collect() {
        if (auditQueue.length) this.set(auditQueue.length());
      },
    }),
    /** The connection log's queue length, for `auditQueued` (set by the log). */
    set auditQueueLength(fn: () => number) {
      auditQueue.length = fn;
    },
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
    dnsLookups: new Counter({
      name: 'switchyard_proxy_dns_lookups_total',
      help: 'DNS lookups of upstream host names by outcome (ok, not_found, failed); answers are kept PROXY_DNS_TTL_MS',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    dnsStaleAnswers: new Counter({
      name: 'switchyard_proxy_dns_stale_answers_total',
      help: 'Connections dialled with a DNS answer past its TTL because refreshing it failed or hangs (PROXY_DNS_STALE_MS)',
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
