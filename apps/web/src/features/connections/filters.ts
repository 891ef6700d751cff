/**
 * The connections page's filters as they live in the URL (`?range=24h&outcome=rejected…`),
 * and what they become in API queries. Pure: unit-tested.
 */
import { filterFieldErrors } from '../../lib/api/errors';

export const QUICK_RANGES = { '1h': 3600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 } as const;
export type QuickRange = keyof typeof QUICK_RANGES;
export const OUTCOMES = ['ok', 'rejected', 'error', 'aborted'] as const;

export interface ConnectionFilters {
  range?: QuickRange;
  /** An explicit span (set by selecting on a chart); wins over `range`. */
  from?: string;
  to?: string;
  tenant?: string;
  database?: string;
  outcome?: (typeof OUTCOMES)[number];
  reason?: string;
  client?: string;
  sni?: string;
  live?: boolean;
  /** The event whose detail panel is open. */
  event?: string;
}

const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);
const iso = (v: unknown) => {
  const s = str(v);
  return s && !Number.isNaN(Date.parse(s)) ? new Date(s).toISOString() : undefined;
};

/** Reads the search params; anything unknown or malformed is dropped, never thrown. */
export function parseFilters(s: Record<string, unknown>): ConnectionFilters {
  const out: ConnectionFilters = {};
  const range = str(s.range);
  if (range && range in QUICK_RANGES) out.range = range as QuickRange;
  const from = iso(s.from);
  const to = iso(s.to);
  if (from && to && Date.parse(from) < Date.parse(to)) {
    out.from = from;
    out.to = to;
  }
  for (const k of ['tenant', 'database', 'reason', 'client', 'sni', 'event'] as const) {
    const v = str(s[k]);
    if (v) out[k] = v;
  }
  const outcome = str(s.outcome);
  if (outcome && (OUTCOMES as readonly string[]).includes(outcome)) out.outcome = outcome as ConnectionFilters['outcome'];
  if (s.live === true || s.live === 'true' || s.live === '1') out.live = true;
  return out;
}

/** The time span the filters mean at `now`: an explicit one, else the quick range (default 24 h). */
export function spanOf(f: ConnectionFilters, now = Date.now()): { from: string; to: string } {
  if (f.from && f.to) return { from: f.from, to: f.to };
  const ms = QUICK_RANGES[f.range ?? '24h'];
  return { from: new Date(now - ms).toISOString(), to: new Date(now).toISOString() };
}

/** Chart buckets for a span: about 100 or fewer, in the API's intervals. */
export function intervalFor(span: { from: string; to: string }): '1m' | '5m' | '15m' | '1h' | '6h' | '1d' {
  const ms = Date.parse(span.to) - Date.parse(span.from);
  const options = [
    ['1m', 60_000],
    ['5m', 300_000],
    ['15m', 900_000],
    ['1h', 3600_000],
    ['6h', 21_600_000],
    ['1d', 86_400_000],
  ] as const;
  for (const [name, step] of options) if (ms / step <= 120) return name;
  return '1d';
}

/** The API query of the list, the stats and the CSV export (same filters everywhere). */
export function apiQuery(f: ConnectionFilters, platform: boolean, now = Date.now()): Record<string, string> {
  const q: Record<string, string> = { ...spanOf(f, now) };
  if (platform && f.tenant) q.tenant = f.tenant;
  if (f.database && (!platform || f.tenant)) q.database = f.database;
  if (f.outcome) q.outcome = f.outcome;
  if (f.reason) q.reason = f.reason;
  if (f.client) q.clientAddress = f.client;
  if (f.sni) q.sni = f.sni;
  return q;
}

/** The CSV export link for the filtered rows (same origin: the session cookie goes along). */
export function csvHref(base: string, f: ConnectionFilters, platform: boolean, now = Date.now()): string {
  return `${base}?${new URLSearchParams({ ...apiQuery(f, platform, now), format: 'csv' }).toString()}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** The filter fields an API error can name: the time range, or one of the filters. */
export type FilterField = 'range' | 'tenant' | 'database' | 'outcome' | 'reason' | 'client' | 'sni';

const FIELD_OF_PARAM: Record<string, FilterField> = {
  from: 'range',
  to: 'range',
  tenant: 'tenant',
  database: 'database',
  outcome: 'outcome',
  reason: 'reason',
  clientAddress: 'client',
  sni: 'sni',
};

/**
 * An error of the list or the stats that names a filter (`400` on `querystring.clientAddress`,
 * a platform view's unknown tenant) goes on that filter, so a mistyped CIDR is shown under
 * "Client address or CIDR" rather than as a page that could not load. Null otherwise.
 */
export function filterErrors(err: unknown): Partial<Record<FilterField, string>> | null {
  const out = filterFieldErrors(err, FIELD_OF_PARAM, { SY_TENANT_NOT_FOUND: 'tenant' });
  if (out?.range) out.range = `The time range ${out.range.replace(/^range /, '')}`;
  return out;
}
