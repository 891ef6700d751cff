/**
 * Read side of the audit trail and of the proxies' connection events: filters, keyset
 * pagination, per-interval aggregates for charts, and CSV export. Queries always carry a
 * bounded time range and (for tenants) the tenant id, so they run on the
 * (tenant_id, started_at, id) index; aggregates are index-only scans (see docs/audit.md).
 */
import { Readable } from 'node:stream';
import { parseCidr } from '@switchyard/core';
import { Prisma, type PrismaClient, type Tenant } from '@switchyard/db';
import { requirePlatformAdmin, type Actor } from '../../lib/access.js';
import { AppError } from '../../lib/errors.js';
import { decodeCursor, encodeCursor, invalidQuery, pageOf, type Page } from '../../lib/pagination.js';
import type { TenantsService } from '../tenants/tenants.service.js';
import {
  INTERVALS,
  type AuditEventsQuery,
  type ConnectionEventsQuery,
  type PlatformAuditEventsQuery,
  type PlatformConnectionEventsQuery,
  type PlatformStatsQuery,
  type StatsQuery,
  type StatsResponse,
} from './events.schemas.js';

/** Longest time range one query may cover. */
export const MAX_RANGE_DAYS = 93;
/** Most buckets one stats query may return. */
export const MAX_BUCKETS = 2000;
/**
 * Top client addresses are counted exactly up to this many matching events; beyond it they are
 * estimated from about this many (docs/performance.md "Connection events at 1 million rows":
 * grouping a million events by address takes about a second; no rollup helps when addresses
 * rarely repeat within a day).
 */
export const TOP_CLIENTS_EXACT_MAX = 30_000;
/** Time slices a sampled top-clients count reads (evenly spread, each a share of its part of the range). */
const SAMPLE_SLICES = 120;
const DAY_MS = 86_400_000;
const CSV_PAGE = 5000;

interface Range {
  from: Date;
  to: Date;
}

export function parseRange(q: { from?: string; to?: string }, defaultSpanMs = DAY_MS): Range {
  const to = q.to ? new Date(q.to) : new Date();
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - defaultSpanMs);
  if (from.getTime() >= to.getTime()) throw invalidQuery('querystring.from', 'must be before `to`');
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS) throw invalidQuery('querystring.from', `range must not exceed ${MAX_RANGE_DAYS} days`);
  return { from, to };
}

/** The sort key of an event as a cursor (lib/pagination.ts): its time and id. */
function eventKey(at: Date, id: bigint): string {
  return `${at.getTime()}:${id}`;
}

export function encodeEventCursor(at: Date, id: bigint): string {
  return encodeCursor(eventKey(at, id));
}

/** Event ids are PostgreSQL bigints. */
const MAX_EVENT_ID = 2n ** 63n - 1n;
/** Cursor times are instants PostgreSQL stores (lib/validation.ts, `date-time`). */
const MAX_CURSOR_MS = new Date('9999-12-31T23:59:59.999Z').getTime();

export function decodeEventCursor(cursor: string): { at: Date; id: bigint } {
  return decodeCursor(cursor, (key) => {
    const m = /^(\d{1,15}):(\d{1,20})$/.exec(key);
    // A cursor we never issued (edited, or from another endpoint) must be a 400, not reach the
    // database: an id past the bigint range or a time past year 9999 was a 500 there.
    if (!m || Number(m[1]) > MAX_CURSOR_MS || BigInt(m[2]!) > MAX_EVENT_ID) return undefined;
    return { at: new Date(Number(m[1])), id: BigInt(m[2]!) };
  });
}

/** Neutralises spreadsheet formulas and quotes per RFC 4180. */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s: string;
  if (typeof v === 'string') s = v;
  else if (v instanceof Date) s = v.toISOString();
  else if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') s = String(v);
  else s = JSON.stringify(v);
  // Only text can smuggle a formula; numbers such as -5 stay numbers.
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

interface ConnRow {
  id: bigint;
  proxy_id: string;
  listener: string;
  tenant_slug: string | null;
  database_name: string | null;
  route_id: string | null;
  client_address: string | null;
  client_port: number;
  sni: string | null;
  alpn: string | null;
  tls_version: string | null;
  mode: string | null;
  started_at: Date;
  ended_at: Date;
  bytes_in: bigint;
  bytes_out: bigint;
  outcome: string;
  reason: string;
  upstream: string | null;
  connection_id: string | null;
  ended_by: string | null;
}

function connView(r: ConnRow) {
  return {
    id: r.id.toString(),
    proxyId: r.proxy_id,
    listener: r.listener,
    tenant: r.tenant_slug,
    database: r.database_name,
    routeId: r.route_id,
    clientAddress: r.client_address ?? '',
    clientPort: r.client_port,
    sni: r.sni,
    alpn: r.alpn,
    tlsVersion: r.tls_version,
    mode: r.mode,
    startedAt: r.started_at.toISOString(),
    endedAt: r.ended_at.toISOString(),
    durationMs: r.ended_at.getTime() - r.started_at.getTime(),
    bytesIn: Number(r.bytes_in),
    bytesOut: Number(r.bytes_out),
    outcome: r.outcome as 'ok' | 'rejected' | 'error' | 'aborted',
    reason: r.reason,
    upstream: r.upstream,
    connectionId: r.connection_id,
    endedBy: r.ended_by,
  };
}

const CONN_COLUMNS = [
  'id', 'startedAt', 'endedAt', 'durationMs', 'tenant', 'database', 'listener', 'sni', 'clientAddress', 'clientPort',
  'outcome', 'reason', 'bytesIn', 'bytesOut', 'mode', 'alpn', 'tlsVersion', 'proxyId', 'routeId', 'upstream', 'connectionId', 'endedBy',
] as const;

interface AuditRow {
  id: bigint;
  at: Date;
  actor_type: string;
  actor_id: string | null;
  tenant_slug: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  changes: unknown;
  client_address: string | null;
  request_id: string | null;
}

function auditView(r: AuditRow) {
  return {
    id: r.id.toString(),
    at: r.at.toISOString(),
    actorType: r.actor_type,
    actorId: r.actor_id,
    tenant: r.tenant_slug,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    changes: r.changes ?? null,
    clientAddress: r.client_address,
    requestId: r.request_id,
  };
}

const AUDIT_COLUMNS = ['id', 'at', 'actorType', 'actorId', 'tenant', 'action', 'targetType', 'targetId', 'changes', 'clientAddress', 'requestId'] as const;

export type CsvExport = { csv: Readable; filename: string };

export class EventsService {
  private readonly topClientsExactMax: number;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly tenants: Pick<TenantsService, 'resolve'>,
    opts: { topClientsExactMax?: number } = {},
  ) {
    this.topClientsExactMax = opts.topClientsExactMax ?? TOP_CLIENTS_EXACT_MAX;
  }

  private async databaseId(tenant: Tenant, name: string | undefined): Promise<string | null> {
    if (!name) return null;
    const db = await this.prisma.database.findUnique({ where: { tenantId_name: { tenantId: tenant.id, name } }, select: { id: true } });
    if (!db) throw new AppError('SY_DATABASE_NOT_FOUND');
    return db.id;
  }

  private connectionFilters(tenantId: string | null | undefined, databaseId: string | null, q: Omit<ConnectionEventsQuery, 'limit' | 'cursor' | 'format'>, range: Range): Prisma.Sql[] {
    const where: Prisma.Sql[] = [Prisma.sql`e.started_at >= ${range.from}`, Prisma.sql`e.started_at < ${range.to}`];
    if (tenantId) where.push(Prisma.sql`e.tenant_id = ${tenantId}::uuid`);
    if (databaseId) where.push(Prisma.sql`e.database_id = ${databaseId}::uuid`);
    if (q.outcome) where.push(Prisma.sql`e.outcome = ${q.outcome}`);
    if (q.reason) where.push(Prisma.sql`e.reason = ${q.reason}`);
    if (q.sni) where.push(Prisma.sql`e.sni = ${q.sni.toLowerCase()}`);
    if (q.clientAddress) {
      const cidr = parseCidr(q.clientAddress);
      if (!cidr) throw invalidQuery('querystring.clientAddress', 'is not an IP address or a CIDR with zero host bits');
      where.push(Prisma.sql`e.client_address <<= ${cidr.text}::inet`);
    }
    return where;
  }

  private async connectionPage(where: Prisma.Sql[], limit: number, cursor?: string): Promise<Page<ReturnType<typeof connView>>> {
    const conds = [...where];
    if (cursor) {
      const c = decodeEventCursor(cursor);
      conds.push(Prisma.sql`(e.started_at, e.id) < (${c.at}, ${c.id})`);
    }
    const rows = await this.prisma.$queryRaw<ConnRow[]>`
      SELECT e.id, e.proxy_id, e.listener, t.slug AS tenant_slug, d.name AS database_name, e.route_id::text AS route_id,
             host(e.client_address) AS client_address, e.client_port, e.sni, e.alpn, e.tls_version, e.mode,
             e.started_at, e.ended_at, e.bytes_in, e.bytes_out, e.outcome, e.reason, e.upstream,
             e.connection_id, e.ended_by
        FROM connection_events e
        LEFT JOIN tenants t ON t.id = e.tenant_id
        LEFT JOIN databases d ON d.id = e.database_id
       WHERE ${Prisma.join(conds, ' AND ')}
       ORDER BY e.started_at DESC, e.id DESC
       LIMIT ${limit + 1}`;
    const page = pageOf(rows, limit, (last) => eventKey(last.started_at, last.id));
    return { items: page.items.map(connView), nextCursor: page.nextCursor };
  }

  private csv<T extends Record<string, unknown>>(columns: readonly string[], fetch: (cursor?: string) => Promise<Page<T>>, filename: string): CsvExport {
    async function* lines() {
      yield `${columns.join(',')}\r\n`;
      let cursor: string | undefined;
      do {
        const page = await fetch(cursor);
        let chunk = '';
        for (const item of page.items) chunk += `${columns.map((c) => csvField(item[c])).join(',')}\r\n`;
        if (chunk) yield chunk;
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
    }
    return { csv: Readable.from(lines()), filename };
  }

  async connections(actor: Actor, tenantSlug: string, q: ConnectionEventsQuery): Promise<Page<ReturnType<typeof connView>> | CsvExport> {
    const tenant = await this.tenants.resolve(actor, tenantSlug, 'member');
    const range = parseRange(q);
    const where = this.connectionFilters(tenant.id, await this.databaseId(tenant, q.database), q, range);
    if (q.format === 'csv') return this.csv(CONN_COLUMNS, (c) => this.connectionPage(where, CSV_PAGE, c), `connections-${tenant.slug}.csv`);
    return this.connectionPage(where, q.limit ?? 100, q.cursor);
  }

  async platformConnections(actor: Actor, q: PlatformConnectionEventsQuery): Promise<Page<ReturnType<typeof connView>> | CsvExport> {
    requirePlatformAdmin(actor);
    const tenant = q.tenant ? await this.tenants.resolve(actor, q.tenant, 'member') : null;
    const range = parseRange(q);
    const where = this.connectionFilters(tenant?.id, tenant ? await this.databaseId(tenant, q.database) : null, q, range);
    if (q.format === 'csv') return this.csv(CONN_COLUMNS, (c) => this.connectionPage(where, CSV_PAGE, c), 'connections.csv');
    return this.connectionPage(where, q.limit ?? 100, q.cursor);
  }

  async stats(actor: Actor, tenantSlug: string, q: StatsQuery): Promise<StatsResponse> {
    const tenant = await this.tenants.resolve(actor, tenantSlug, 'member');
    return this.aggregate(tenant.id, await this.databaseId(tenant, q.database), q);
  }

  async platformStats(actor: Actor, q: PlatformStatsQuery): Promise<StatsResponse> {
    requirePlatformAdmin(actor);
    const tenant = q.tenant ? await this.tenants.resolve(actor, q.tenant, 'member') : null;
    return this.aggregate(tenant?.id ?? null, tenant ? await this.databaseId(tenant, q.database) : null, q);
  }

  /** Per-interval buckets and the top client addresses, under the same filters as the list. */
  private async aggregate(tenantId: string | null, databaseId: string | null, q: StatsQuery): Promise<StatsResponse> {
    const interval = q.interval ?? '1h';
    const seconds = INTERVALS[interval];
    const range = parseRange(q);
    // Align to whole intervals (UTC epoch) so buckets are stable between calls.
    const step = seconds * 1000;
    const from = new Date(Math.floor(range.from.getTime() / step) * step);
    const buckets = Math.ceil((range.to.getTime() - from.getTime()) / step);
    if (buckets > MAX_BUCKETS) throw invalidQuery('querystring.interval', `gives ${buckets} buckets for this range; at most ${MAX_BUCKETS}`);
    type BucketRow = { bucket: Date; reason: string | null; n: bigint; ok: bigint; bytes_in: bigint; bytes_out: bigint };
    const bin = (col: Prisma.Sql) => Prisma.sql`date_bin(make_interval(secs => ${seconds}), ${col}, TIMESTAMPTZ '1970-01-01')`;
    const rawBuckets = (span: Range) => {
      const cond = Prisma.join(this.connectionFilters(tenantId, databaseId, q, span), ' AND ');
      return this.prisma.$queryRaw<BucketRow[]>`
        SELECT ${bin(Prisma.sql`e.started_at`)} AS bucket,
               CASE WHEN e.outcome = 'ok' THEN NULL ELSE e.reason END AS reason,
               count(*) AS n,
               count(*) FILTER (WHERE e.outcome = 'ok') AS ok,
               coalesce(sum(e.bytes_in), 0)::int8 AS bytes_in,
               coalesce(sum(e.bytes_out), 0)::int8 AS bytes_out
          FROM connection_events e
         WHERE ${cond}
         GROUP BY 1, 2`;
    };
    // Hourly and coarser charts without address or host-name filters read the hourly rollup
    // for whole hours and the events only for the hour in progress (or a cut-off last hour).
    const hourEnd = new Date(Math.floor(range.to.getTime() / 3600_000) * 3600_000);
    const useRollup = seconds >= 3600 && !q.clientAddress && !q.sni && hourEnd.getTime() > from.getTime();
    // The grain of the rollup that answers the query: platform total, one tenant, or one database.
    const level = databaseId ? 2 : tenantId ? 1 : 0;
    const rollupConds = (to: Date): Prisma.Sql[] => {
      const rc: Prisma.Sql[] = [Prisma.sql`r.level = ${level}::int2`, Prisma.sql`r.bucket >= ${from}`, Prisma.sql`r.bucket < ${to}`];
      if (level >= 1) rc.push(Prisma.sql`r.tenant_id = ${tenantId}::uuid`);
      else rc.push(Prisma.sql`r.tenant_id IS NULL`);
      if (level === 2) rc.push(Prisma.sql`r.database_id = ${databaseId}::uuid`);
      else rc.push(Prisma.sql`r.database_id IS NULL`);
      if (q.outcome) rc.push(Prisma.sql`r.outcome = ${q.outcome}`);
      if (q.reason) rc.push(Prisma.sql`r.reason = ${q.reason}`);
      return rc;
    };
    const bucketQueries: Array<Promise<BucketRow[]>> = [];
    if (useRollup) {
      bucketQueries.push(this.prisma.$queryRaw<BucketRow[]>`
        SELECT ${bin(Prisma.sql`r.bucket`)} AS bucket,
               CASE WHEN r.outcome = 'ok' THEN NULL ELSE r.reason END AS reason,
               sum(r.connections)::int8 AS n,
               coalesce(sum(r.connections) FILTER (WHERE r.outcome = 'ok'), 0)::int8 AS ok,
               sum(r.bytes_in)::int8 AS bytes_in,
               sum(r.bytes_out)::int8 AS bytes_out
          FROM connection_event_rollups r
         WHERE ${Prisma.join(rollupConds(hourEnd), ' AND ')}
         GROUP BY 1, 2`);
      if (hourEnd.getTime() < range.to.getTime()) bucketQueries.push(rawBuckets({ from: hourEnd, to: range.to }));
    } else {
      bucketQueries.push(rawBuckets({ from, to: range.to }));
    }
    const [top, ...bucketSets] = await Promise.all([this.topClients(tenantId, databaseId, q, { from, to: range.to }, rollupConds), ...bucketQueries]);
    const rows = bucketSets.flat();
    const byStart = new Map<number, StatsResponse['buckets'][number]>();
    for (let i = 0; i < buckets; i++) {
      const start = from.getTime() + i * step;
      byStart.set(start, { start: new Date(start).toISOString(), connections: 0, ok: 0, failures: 0, bytesIn: 0, bytesOut: 0, failuresByReason: {} });
    }
    for (const r of rows) {
      const b = byStart.get(r.bucket.getTime());
      if (!b) continue;
      const n = Number(r.n);
      b.connections += n;
      b.ok += Number(r.ok);
      b.bytesIn += Number(r.bytes_in);
      b.bytesOut += Number(r.bytes_out);
      if (r.reason !== null) {
        b.failures += n;
        b.failuresByReason[r.reason] = (b.failuresByReason[r.reason] ?? 0) + n;
      }
    }
    return {
      from: from.toISOString(),
      to: range.to.toISOString(),
      interval,
      buckets: [...byStart.values()],
      topClients: top.rows,
      topClientsSampled: top.sampled,
    };
  }

  /**
   * The 10 busiest client addresses under the stats filters. Exact when the range has at most
   * TOP_CLIENTS_EXACT_MAX matching events (always with an address or host-name filter, which
   * are selective and indexed). Larger ranges would group every event by address — a month of
   * a busy platform is a million index entries into tens of thousands of groups, about a second
   * — so they are estimated: SAMPLE_SLICES time slices spread over the range, together about
   * TOP_CLIENTS_EXACT_MAX events, each read through the same (time-ordered) indexes; counts are
   * scaled up and the result is marked `topClientsSampled`. The matching events are counted
   * from the hourly rollup (whole hours; the hour in progress is not counted, at most an hour).
   */
  private async topClients(
    tenantId: string | null,
    databaseId: string | null,
    q: StatsQuery,
    span: Range,
    rollupConds: (to: Date) => Prisma.Sql[],
  ): Promise<{ rows: StatsResponse['topClients']; sampled: number | null }> {
    const cond = Prisma.join(this.connectionFilters(tenantId, databaseId, q, span), ' AND ');
    let share = 1;
    if (!q.clientAddress && !q.sni) {
      const hourEnd = new Date(Math.floor(span.to.getTime() / 3600_000) * 3600_000);
      const [c] = await this.prisma.$queryRaw<Array<{ n: bigint | null }>>`
        SELECT sum(r.connections)::int8 AS n FROM connection_event_rollups r WHERE ${Prisma.join(rollupConds(hourEnd), ' AND ')}`;
      const n = Number(c?.n ?? 0);
      if (n > this.topClientsExactMax) share = this.topClientsExactMax / n;
    }
    type TopRow = { address: string; n: bigint; failures: bigint };
    let rows: TopRow[];
    if (share === 1) {
      rows = await this.prisma.$queryRaw<TopRow[]>`
        SELECT host(e.client_address) AS address, count(*) AS n, count(*) FILTER (WHERE e.outcome <> 'ok') AS failures
          FROM connection_events e
         WHERE ${cond} AND e.client_address IS NOT NULL
         GROUP BY e.client_address
         ORDER BY n DESC, e.client_address
         LIMIT 10`;
    } else {
      // Slice i covers [start_i, start_i + len) inside the i-th part of the range, at an offset
      // that varies from part to part (golden-ratio sequence) so a daily or hourly rhythm in
      // the traffic does not line up with the slices. Deterministic: the same range and
      // filters give the same estimate.
      const part = (span.to.getTime() - span.from.getTime()) / SAMPLE_SLICES;
      const len = Math.max(1, Math.floor(part * share));
      const starts: Date[] = [];
      const ends: Date[] = [];
      for (let i = 0; i < SAMPLE_SLICES; i++) {
        const offset = ((i * 0.6180339887) % 1) * (part - len);
        const a = Math.floor(span.from.getTime() + i * part + offset);
        starts.push(new Date(a));
        ends.push(new Date(a + len));
      }
      share = Math.min(1, (len * SAMPLE_SLICES) / (span.to.getTime() - span.from.getTime()));
      // The same filters as the exact query, the range replaced by the slices.
      const filters = this.connectionFilters(tenantId, databaseId, q, span).slice(2);
      const sliceCond = filters.length > 0 ? Prisma.sql`AND ${Prisma.join(filters, ' AND ')}` : Prisma.empty;
      // The planner cannot see how short the slices are (bound parameters): it estimates a
      // large share of the table per slice and would JIT-compile a query that reads 30,000
      // index entries (a quarter of a second of compiling for 100 ms of work).
      // Nor may it go parallel: with a tenant filter it then read all of the tenant's events
      // once and joined every slice against them (7.7 M comparisons, 1.3–2.8 s on PostgreSQL 18
      // with 256 MB of shared buffers), instead of one short index-only scan per slice (~75 ms).
      const [, , sampled] = await this.prisma.$transaction([
        this.prisma.$executeRaw`SET LOCAL jit = off`,
        this.prisma.$executeRaw`SET LOCAL max_parallel_workers_per_gather = 0`,
        this.prisma.$queryRaw<TopRow[]>`
        SELECT host(x.client_address) AS address, count(*) AS n, count(*) FILTER (WHERE x.outcome <> 'ok') AS failures
          FROM unnest(${starts}::timestamptz[], ${ends}::timestamptz[]) AS s(a, b)
          CROSS JOIN LATERAL (
            SELECT e.client_address, e.outcome FROM connection_events e
             WHERE e.started_at >= s.a AND e.started_at < s.b AND e.client_address IS NOT NULL
               ${sliceCond}
          ) x
         GROUP BY x.client_address
         ORDER BY n DESC, x.client_address
         LIMIT 10`,
      ]);
      rows = sampled;
    }
    const scale = 1 / share;
    return {
      rows: rows.map((t) => ({ clientAddress: t.address, connections: Math.round(Number(t.n) * scale), failures: Math.round(Number(t.failures) * scale) })),
      sampled: share === 1 ? null : Math.round(share * 10_000) / 10_000,
    };
  }

  private async auditPage(where: Prisma.Sql[], limit: number, cursor?: string): Promise<Page<ReturnType<typeof auditView>>> {
    const conds = [...where];
    if (cursor) {
      const c = decodeEventCursor(cursor);
      conds.push(Prisma.sql`(a.at, a.id) < (${c.at}, ${c.id})`);
    }
    const rows = await this.prisma.$queryRaw<AuditRow[]>`
      SELECT a.id, a.at, a.actor_type, a.actor_id, t.slug AS tenant_slug, a.action, a.target_type, a.target_id,
             a.changes, a.client_address, a.request_id
        FROM audit_events a
        LEFT JOIN tenants t ON t.id = a.tenant_id
       WHERE ${Prisma.join(conds, ' AND ')}
       ORDER BY a.at DESC, a.id DESC
       LIMIT ${limit + 1}`;
    const page = pageOf(rows, limit, (last) => eventKey(last.at, last.id));
    return { items: page.items.map(auditView), nextCursor: page.nextCursor };
  }

  private auditFilters(tenantId: string | null, q: AuditEventsQuery, range: Range): Prisma.Sql[] {
    const where = [Prisma.sql`a.at >= ${range.from}`, Prisma.sql`a.at < ${range.to}`];
    if (tenantId) where.push(Prisma.sql`a.tenant_id = ${tenantId}::uuid`);
    if (q.action) where.push(Prisma.sql`a.action = ${q.action}`);
    if (q.targetType) where.push(Prisma.sql`a.target_type = ${q.targetType}`);
    if (q.actorId) where.push(Prisma.sql`a.actor_id = ${q.actorId}`);
    return where;
  }

  async audit(actor: Actor, tenantSlug: string, q: AuditEventsQuery): Promise<Page<ReturnType<typeof auditView>> | CsvExport> {
    const tenant = await this.tenants.resolve(actor, tenantSlug, 'admin');
    const where = this.auditFilters(tenant.id, q, parseRange(q, 30 * DAY_MS));
    if (q.format === 'csv') return this.csv(AUDIT_COLUMNS, (c) => this.auditPage(where, CSV_PAGE, c), `audit-${tenant.slug}.csv`);
    return this.auditPage(where, q.limit ?? 100, q.cursor);
  }

  async platformAudit(actor: Actor, q: PlatformAuditEventsQuery): Promise<Page<ReturnType<typeof auditView>> | CsvExport> {
    requirePlatformAdmin(actor);
    const tenant = q.tenant ? await this.tenants.resolve(actor, q.tenant, 'member') : null;
    const where = this.auditFilters(tenant?.id ?? null, q, parseRange(q, 30 * DAY_MS));
    if (q.format === 'csv') return this.csv(AUDIT_COLUMNS, (c) => this.auditPage(where, CSV_PAGE, c), 'audit.csv');
    return this.auditPage(where, q.limit ?? 100, q.cursor);
  }
}
