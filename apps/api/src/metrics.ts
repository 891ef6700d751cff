/**
 * The API's Prometheus metrics (prefix `switchyard_api_`), served on their own listener
 * (metrics-server.ts, API_METRICS_PORT), never on the public API port.
 *
 * Labels stay low-cardinality: the route *pattern* (`/api/v1/tenants/:tenant`), never the URL;
 * the method; the status code (a handful per route). Counters move where things happen
 * (requests, ACME orders, propagation waits); the certificate gauges are computed from the
 * control database when scraped, by one query shared by every gauge and every concurrent
 * scrape, at most once per `cacheMs` (DbGauges below), so scrapes cannot hammer the database.
 */
import type { PrismaClient } from '@switchyard/db';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the certificate gauges are computed from (one row of one query). */
export interface CertificateSnapshot {
  /** ACME certificates by state (pending, validating, issued, failed). */
  acmeByState: Record<string, number>;
  /** The soonest notAfter among certificates of enabled terminate-mode routes (null: none). */
  soonestNotAfter: Date | null;
  /** Certificates of enabled terminate-mode routes expiring within EXPIRING_WITHIN_DAYS (or expired). */
  expiringSoon: number;
}

export const EXPIRING_WITHIN_DAYS = 14;
export const ACME_STATES = ['pending', 'validating', 'issued', 'failed'] as const;

/**
 * The one query behind the certificate gauges: aggregates only (no rows leave the database),
 * over the routes' certificate index and the small acme_certificates table.
 */
export async function loadCertificateSnapshot(prisma: Pick<PrismaClient, '$queryRaw'>): Promise<CertificateSnapshot> {
  const [row] = await prisma.$queryRaw<Array<{ soonest: Date | null; expiring: bigint | number; acme: Record<string, number> | null }>>`
    WITH route_certs AS (
      SELECT DISTINCT c.id, c.not_after FROM routes r JOIN certificates c ON c.id = r.certificate_id
       WHERE r.enabled AND r.tls_mode = 'terminate'
    )
    SELECT (SELECT min(not_after) FROM route_certs) AS soonest,
           (SELECT count(*) FROM route_certs WHERE not_after < now() + make_interval(days => ${EXPIRING_WITHIN_DAYS})) AS expiring,
           (SELECT json_object_agg(state, n) FROM (SELECT state, count(*)::int AS n FROM acme_certificates GROUP BY state) s) AS acme`;
  return { acmeByState: row?.acme ?? {}, soonestNotAfter: row?.soonest ?? null, expiringSoon: Number(row?.expiring ?? 0) };
}

/**
 * A value loaded from the database for scrapes: at most one load started per `cacheMs`
 * (concurrent scrapes share it; a failed load is not retried sooner), and a scrape waits at
 * most `waitMs` for a load in flight, then answers with the previous values: a slow database
 * makes the gauges a little stale, never the scrape time out.
 */
export class DbGauges<T> {
  private value: T | null = null;
  private loadedAt = 0;
  private startedAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | null = null;

  constructor(
    private readonly load: () => Promise<T>,
    private readonly cacheMs: number,
    private readonly waitMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** When the current values were loaded (ms since epoch; 0: never). */
  get updatedAt(): number {
    return this.loadedAt;
  }

  async get(): Promise<T | null> {
    if (!this.inflight && Date.now() - this.startedAt >= this.cacheMs) {
      this.startedAt = Date.now();
      this.inflight = this.load()
        .then(
          (v) => {
            this.value = v;
            this.loadedAt = Date.now();
          },
          (err: unknown) => this.onError(err),
        )
        .finally(() => {
          this.inflight = null;
        });
    }
    if (this.inflight) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.inflight, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.waitMs)))]);
      clearTimeout(timer);
    }
    return this.value;
  }
}

/** HTTP methods as labels; anything else (Fastify answers it 404) is `OTHER`. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export type AcmeOrderType = 'issuance' | 'renewal';
/** `withdrawn`: the request was deleted while its order ran (its route changed); not a failure. */
export type AcmeOrderOutcome = 'issued' | 'failed' | 'withdrawn';
export type PropagationWaitSource = 'request' | 'acme';

export interface ApiMetricsOptions {
  /** How long the database-backed gauges are reused (default 5 s). */
  cacheMs?: number;
  /** How long a scrape waits for a refresh in flight before using the previous values (default 2 s). */
  waitMs?: number;
  onError?: (err: unknown) => void;
}

export class ApiMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'switchyard_api_http_requests_total',
    help: 'HTTP requests answered by the API, by route pattern (route="unmatched" for unknown paths), method and status code',
    labelNames: ['route', 'method', 'status'],
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'switchyard_api_http_request_duration_seconds',
    help: 'Time from receiving a request to sending its response, by route pattern and method',
    labelNames: ['route', 'method'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly acmeOrders = new Counter({
    name: 'switchyard_api_acme_orders_total',
    help: 'ACME orders finished by this replica’s worker, by type (issuance, renewal) and outcome (issued, failed, withdrawn)',
    labelNames: ['type', 'outcome'],
    registers: [this.registry],
  });
  readonly propagationWaits = new Counter({
    name: 'switchyard_api_propagation_waits_total',
    help: 'Waits for every live proxy to apply a change (source="request": ?wait=true; "acme": challenges and new certificates), by result (applied, timeout, no-proxies)',
    labelNames: ['source', 'result'],
    registers: [this.registry],
  });
  readonly dbRefreshErrors = new Counter({
    name: 'switchyard_api_metrics_db_errors_total',
    help: 'Failed loads of the database-backed gauges (they keep their previous values)',
    registers: [this.registry],
  });
  readonly certificates: DbGauges<CertificateSnapshot>;

  constructor(prisma: Pick<PrismaClient, '$queryRaw'>, opts: ApiMetricsOptions = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_api_' });
    this.certificates = new DbGauges(() => loadCertificateSnapshot(prisma), opts.cacheMs ?? 5000, opts.waitMs ?? 2000, (err) => {
      this.dbRefreshErrors.inc();
      opts.onError?.(err);
    });
    // Zero from the start, so rates and ratios exist before the first event.
    for (const type of ['issuance', 'renewal']) for (const outcome of ['issued', 'failed', 'withdrawn']) this.acmeOrders.inc({ type, outcome }, 0);
    for (const source of ['request', 'acme']) for (const result of ['applied', 'timeout', 'no-proxies']) this.propagationWaits.inc({ source, result }, 0);
    const certs = this.certificates;
    new Gauge({
      name: 'switchyard_api_acme_certificates',
      help: 'ACME certificates by state (from the control database, refreshed at most every few seconds)',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const s = await certs.get();
        if (!s) return;
        for (const state of ACME_STATES) this.set({ state }, s.acmeByState[state] ?? 0);
      },
    });
    new Gauge({
      name: 'switchyard_api_route_certificate_soonest_expiry_timestamp_seconds',
      help: 'The soonest notAfter (unix seconds) among certificates attached to enabled terminate-mode routes; absent when there is none',
      registers: [this.registry],
      async collect() {
        const s = await certs.get();
        if (s?.soonestNotAfter) this.set(s.soonestNotAfter.getTime() / 1000);
        // An unlabelled gauge is 0 until removed; 0 would read as "expired in 1970".
        else this.remove();
      },
    });
    new Gauge({
      name: 'switchyard_api_route_certificates_expiring',
      help: `Certificates attached to enabled terminate-mode routes that expire within ${EXPIRING_WITHIN_DAYS} days (or have expired)`,
      registers: [this.registry],
      async collect() {
        const s = await certs.get();
        if (s) this.set(s.expiringSoon);
        else this.remove();
      },
    });
    new Gauge({
      name: 'switchyard_api_metrics_db_updated_timestamp_seconds',
      help: 'When the database-backed gauges were last loaded (unix seconds); absent before the first load',
      registers: [this.registry],
      async collect() {
        // After the load this scrape may start (gauges are collected concurrently).
        await certs.get();
        if (certs.updatedAt > 0) this.set(certs.updatedAt / 1000);
        else this.remove();
      },
    });
  }

  /** One answered request (`route`: the matched pattern, undefined when none matched). */
  observeRequest(route: string | undefined, method: string, status: number, seconds: number): void {
    const labels = { route: route ?? 'unmatched', method: METHODS.has(method) ? method : 'OTHER' };
    this.httpRequests.inc({ ...labels, status: String(status) });
    this.httpDuration.observe(labels, seconds);
  }

  acmeOrder(type: AcmeOrderType, outcome: AcmeOrderOutcome): void {
    this.acmeOrders.inc({ type, outcome });
  }

  propagationWait(source: PropagationWaitSource, result: string): void {
    this.propagationWaits.inc({ source, result });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
