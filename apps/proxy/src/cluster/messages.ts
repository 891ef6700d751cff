/**
 * The IPC protocol between the cluster primary and its workers (node:cluster's channel,
 * JSON serialisation). Plain data only; every message carries `sy: 1` so that anything else
 * on the channel (node:cluster's own messages travel separately as `internalMessage`) is
 * ignored, and `decode*` checks the shape before anything acts on it.
 *
 * primary → worker: the route table (a snapshot in chunks, then deltas), answers to
 * connection-cap requests, metrics requests, forwarded cancel requests, stop orders.
 * worker → primary: hello, applied versions, listening, connection events (batched, as
 * tuples), cap requests and releases, metrics, stats, cancel requests for another worker.
 */
import type { RouteRecord } from '@switchyard/core';
import type { ConnectionEventInput } from '../audit/connection-log.js';
import { REFUSALS, type RefusalCode } from '../errors.js';
import type { OpenConnectionInfo } from '../listener/registry.js';
import type { SlotKey } from '../policy/limits.js';
import { compileSources, intern, NO_SOURCES, RouteTable, type RouteEntry } from '../router/route-table.js';
import type { TableChange } from '../routesync/route-sync.js';

/** Routes per snapshot message: keeps each message (and each JSON.parse) well under a MB. */
export const SNAPSHOT_CHUNK = 2000;

export type ToWorker =
  /** One part of a full table (`count` routes, `encodeRecords`); the worker builds it when `last` arrives. */
  | { sy: 1; t: 'snapshot'; version: number; committedAt: number | null; part: number; last: boolean; count: number; routes: string }
  /** Changes taking a table at `from` to `version`; a worker at another version asks for a snapshot. */
  | { sy: 1; t: 'delta'; from: number; version: number; committedAt: number | null; upserts: RouteRecord[]; deletes: string[] }
  | { sy: 1; t: 'slot'; id: number; refusal: RefusalCode | null }
  | { sy: 1; t: 'metrics'; id: number }
  /** A CancelRequest another worker received for a key this worker minted (base64). */
  | { sy: 1; t: 'cancel'; bytes: string }
  /** Another worker refused this client's TLS attempt (or used that memory up): `refusals.ts`. */
  | { sy: 1; t: 'refusal'; address: string; code: RefusalCode; hostname: string | null }
  | { sy: 1; t: 'refusal-taken'; address: string }
  | { sy: 1; t: 'stop-accepting' }
  | { sy: 1; t: 'drain'; timeoutMs: number }
  /** End one routed connection on an API order (control channel, `control/control.ts`). */
  | { sy: 1; t: 'terminate'; id: string; by: string };

export type FromWorker =
  /** Handlers are installed: send the current snapshot. */
  | { sy: 1; t: 'hello' }
  | { sy: 1; t: 'applied'; version: number; routes: number }
  | { sy: 1; t: 'listening'; ports: Record<string, number> }
  /** A delta did not fit the worker's table: send a snapshot. */
  | { sy: 1; t: 'resync'; have: number | null }
  | { sy: 1; t: 'events'; events: EventTuple[]; dropped: number }
  | { sy: 1; t: 'acquire'; id: number; key: SlotKey }
  | { sy: 1; t: 'release'; key: SlotKey }
  | { sy: 1; t: 'metrics'; id: number; metrics: unknown[] }
  /** `conns`: the worker's newest open routed connections (live view, capped). */
  | { sy: 1; t: 'stats'; open: number; routed: number; conns?: OpenConnectionInfo[] }
  /** Relay a CancelRequest to the worker whose id is in the key's top byte. */
  | { sy: 1; t: 'cancel'; worker: number; bytes: string }
  | { sy: 1; t: 'refusal'; address: string; code: RefusalCode; hostname: string | null }
  | { sy: 1; t: 'refusal-taken'; address: string }
  | { sy: 1; t: 'accepting-stopped'; open: number }
  /** Drained and flushed: the worker exits next. */
  | { sy: 1; t: 'bye' };

/** A route record as sent over IPC (the entry minus what the table compiles from it). */
export function recordOf(entry: RouteEntry): RouteRecord {
  const { allowedSources: _compiled, ...record } = entry;
  return record;
}

/**
 * A route record on the wire inside a snapshot: its values in a fixed order, as a JSON array
 * (half the bytes of the object, whose keys would repeat 100,000 times, and half the time to
 * parse). `encodeRecords` and `decodeEntries` name the fields in the same order; the decoder
 * is typed to name every field of `RouteRecord`, and a round-trip test covers the encoder.
 * Written out rather than looped over a key list: ~2× faster at 100,000 routes.
 */
export function encodeRecords(records: Iterable<RouteRecord>): string {
  const rows: unknown[][] = [];
  for (const r of records) {
    rows.push([
      r.id,
      r.hostname,
      r.listener,
      r.tlsMode,
      r.enabled,
      r.disableBehavior,
      r.sourceCidrs,
      r.maxConnections,
      r.version,
      r.tenantId,
      r.tenantMaxConnections,
      r.tenantSlug,
      r.databaseId,
      r.databaseName,
      r.engine,
      r.endpoints,
      r.balance ?? null,
      r.healthCheck ?? null,
      r.proxyProtocol ?? null,
      r.dedicatedPort ?? null,
      r.destination ?? null,
      r.sourceAddress ?? null,
      r.certificate,
      r.upstreamTls,
      r.acmeChallenge ?? null,
      r.upstreamCa,
      r.upstreamServerName ?? null,
    ]);
  }
  return JSON.stringify(rows);
}

/** Values per route tuple. */
const RECORD_WIDTH = 27;
type Tuple<N extends number, R extends never[] = []> = R['length'] extends N ? R : Tuple<N, [...R, never]>;

/**
 * The inverse of `encodeRecords`, straight to table entries (`compileRoute`'s output: one
 * object per route, not a record and then its compiled copy); null when the text is not
 * tuples of the right length.
 */
export function decodeEntries(text: string): RouteEntry[] | null {
  let rows: unknown;
  try {
    rows = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(rows)) return null;
  const out: RouteEntry[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as unknown;
    if (!Array.isArray(row) || row.length !== RECORD_WIDTH || typeof row[0] !== 'string' || typeof row[1] !== 'string') return null;
    // Values typed `never` fit any field, so the literal below is checked for naming every field.
    const t = row as Tuple<typeof RECORD_WIDTH>;
    // One literal of fixed shape per route (no per-field loop): what V8 allocates fastest.
    // Optional fields sent as null come back absent (undefined), which means the same.
    // Repeated values shared, as `compileRoute` shares them (route-table.ts `intern`).
    const cidrs = t[6] as string[] | null;
    const sourceCidrs = cidrs === null || cidrs.length === 0 ? NO_SOURCES : cidrs;
    const r: AllFields<RouteEntry> = {
      id: t[0],
      hostname: t[1],
      listener: intern(t[2]),
      tlsMode: intern(t[3]),
      enabled: t[4],
      disableBehavior: intern(t[5]),
      sourceCidrs,
      maxConnections: t[7],
      version: t[8],
      tenantId: intern(t[9]),
      tenantMaxConnections: t[10],
      tenantSlug: intern(t[11]),
      databaseId: t[12],
      databaseName: t[13],
      engine: intern(t[14]),
      endpoints: t[15] ?? [],
      balance: intern(t[16] ?? undefined),
      healthCheck: t[17] ?? undefined,
      proxyProtocol: t[18] ?? undefined,
      dedicatedPort: t[19] ?? undefined,
      destination: t[20] ?? undefined,
      sourceAddress: t[21] ?? undefined,
      certificate: t[22],
      upstreamTls: t[23] ?? true,
      acmeChallenge: t[24] ?? undefined,
      upstreamCa: t[25],
      upstreamServerName: t[26] ?? undefined,
      allowedSources: compileSources(sourceCidrs),
    };
    out[i] = r;
  }
  return out;
}

type AllFields<T> = { [K in keyof Required<T>]: T[K] };

type SnapshotMessage = Extract<ToWorker, { t: 'snapshot' }>;

/**
 * The snapshot of `table` as messages of at most `chunk` routes (at least one message),
 * lazily. The routes travel as one string per part (`encodeRecords`), so node:cluster's own
 * JSON step only copies a string, and the primary can encode a table once for every worker
 * (`SnapshotCache`).
 */
export function* snapshotParts(table: RouteTable, committedAt: number | null, chunk = SNAPSHOT_CHUNK): Generator<SnapshotMessage> {
  let part = 0;
  let batch: RouteRecord[] = [];
  const it = table.routes();
  let next = it.next();
  while (!next.done) {
    // Entries go straight in: `encodeRecords` reads only the record's fields, so the
    // compiled `allowedSources` stays behind without a copy per route.
    batch.push(next.value);
    next = it.next();
    if (batch.length >= chunk || next.done) {
      yield { sy: 1, t: 'snapshot', version: table.version, committedAt, part: part++, last: next.done === true, count: batch.length, routes: encodeRecords(batch) };
      batch = [];
    }
  }
  if (part === 0) yield { sy: 1, t: 'snapshot', version: table.version, committedAt, part: 0, last: true, count: 0, routes: '[]' };
}

export function snapshotMessages(table: RouteTable, committedAt: number | null, chunk = SNAPSHOT_CHUNK): SnapshotMessage[] {
  return [...snapshotParts(table, committedAt, chunk)];
}

/** A snapshot's parts as encoded so far, for every worker that reads it. */
interface SnapshotState {
  version: number;
  committedAt: number | null;
  /** The table the parts encode; for a streamed snapshot, known once it is finished. */
  table: RouteTable | null;
  parts: SnapshotMessage[];
  /** A whole table's remaining parts, encoded as the first reader needs them. */
  source: Iterator<SnapshotMessage> | null;
  /** Streamed and not finished: more parts may come (`push`). */
  open: boolean;
  abandoned: boolean;
  /** Readers waiting for the next streamed part. */
  waiting: Array<() => void>;
}

/**
 * The current table's snapshot messages, encoded once and sent to every worker that asks
 * (all of them at start, one after a restart). Two sources:
 *  - streamed (`begin`, `push` per batch, `finish`): a full load forwards its routes as
 *    they arrive from the control database, so workers build their tables while the
 *    snapshot is still loading; the closing part (no routes, `last`) is pushed once the
 *    primary's own table is built, and the parts then serve later readers of that table;
 *  - a whole table (`read` of a table the cache does not hold, e.g. after deltas): parts are
 *    encoded as the first reader needs them, so the primary encodes part n+1 while the
 *    workers decode part n; later readers get the parts already made.
 * Dropped at the next table change (readers in flight finish what they started; readers of
 * an abandoned stream stop, and their workers get the next snapshot from its part 0), so it
 * never keeps an old table alive; ~0.35 KB per route while it lives.
 */
export class SnapshotCache {
  private state: SnapshotState | null = null;

  /** A snapshot is streaming: `read` returns it whatever table is asked for. */
  get streaming(): boolean {
    return this.state?.open === true;
  }

  begin(version: number, committedAt: number | null): void {
    this.clear();
    this.state = { version, committedAt, table: null, parts: [], source: null, open: true, abandoned: false, waiting: [] };
  }

  /** One batch of the streaming snapshot's routes: one part. */
  push(records: readonly RouteRecord[]): void {
    const s = this.state;
    if (!s?.open || records.length === 0) return;
    s.parts.push({ sy: 1, t: 'snapshot', version: s.version, committedAt: s.committedAt, part: s.parts.length, last: false, count: records.length, routes: encodeRecords(records) });
    wake(s);
  }

  /** The streaming snapshot is complete and built as `table`. */
  finish(table: RouteTable): void {
    const s = this.state;
    if (!s?.open) return;
    s.parts.push({ sy: 1, t: 'snapshot', version: s.version, committedAt: s.committedAt, part: s.parts.length, last: true, count: 0, routes: '[]' });
    s.table = table;
    s.open = false;
    wake(s);
  }

  /** The streaming snapshot failed part-way: its readers stop. */
  abandon(): void {
    if (this.state?.open) this.clear();
  }

  /**
   * The snapshot messages for one reader: the streaming snapshot (waiting for parts still
   * loading), else `table`'s (nothing when there is no table yet).
   */
  async *read(table: RouteTable | null, committedAt: number | null): AsyncGenerator<SnapshotMessage> {
    if (!this.state?.open && (this.state?.table !== table || this.state.committedAt !== committedAt)) {
      if (!table) return;
      this.state = { version: table.version, committedAt, table, parts: [], source: snapshotParts(table, committedAt), open: false, abandoned: false, waiting: [] };
    }
    const s = this.state;
    for (let i = 0; ; i++) {
      while (i >= s.parts.length) {
        if (s.abandoned) return;
        if (s.source) {
          const n = s.source.next();
          if (n.done) s.source = null;
          else s.parts.push(n.value);
        } else if (s.open) {
          await new Promise<void>((r) => s.waiting.push(r));
        } else {
          return;
        }
      }
      if (s.abandoned) return;
      yield s.parts[i]!;
    }
  }

  clear(): void {
    const s = this.state;
    this.state = null;
    if (s?.open) {
      s.open = false;
      s.abandoned = true;
      wake(s);
    }
  }
}

function wake(s: SnapshotState): void {
  for (const r of s.waiting.splice(0)) r();
}

/** The delta message for a table change derived by route sync (null for a full load). */
export function deltaMessage(change: TableChange): ToWorker | null {
  if (change.kind !== 'delta' || !change.previous) return null;
  const upserts: RouteRecord[] = [];
  const deletes: string[] = [];
  for (const id of change.changedIds) {
    const e = change.table.get(id);
    if (e) upserts.push(recordOf(e));
    else deletes.push(id);
  }
  return {
    sy: 1,
    t: 'delta',
    from: change.previous.version,
    version: change.table.version,
    committedAt: change.committedAt?.getTime() ?? null,
    upserts,
    deletes,
  };
}

/**
 * Reassembles a snapshot sent in parts, compiling each part into the table as it arrives
 * (the primary streams the parts, so this overlaps with its sending). Parts arrive in order
 * on one channel; a part out of sequence (a new snapshot started before the last finished)
 * restarts the assembly.
 */
export class SnapshotAssembler {
  private builder: ReturnType<typeof RouteTable.builder> | null = null;
  private next = 0;
  private version: number | null = null;

  feed(msg: Extract<ToWorker, { t: 'snapshot' }>): { version: number; committedAt: number | null; table: RouteTable } | null {
    if (msg.part === 0 || msg.part !== this.next || msg.version !== this.version) {
      this.builder = null;
      this.next = 0;
      this.version = msg.version;
      if (msg.part !== 0) return null;
      this.builder = RouteTable.builder();
    }
    const entries = decodeEntries(msg.routes);
    if (!entries || entries.length !== msg.count) {
      // A corrupt part: start over (the worker asks for a snapshot when a delta does not fit).
      this.builder = null;
      this.next = 0;
      this.version = null;
      return null;
    }
    this.builder!.addEntries(entries);
    this.next++;
    if (!msg.last) return null;
    const done = { version: msg.version, committedAt: msg.committedAt, table: this.builder!.build(msg.version) };
    this.builder = null;
    this.next = 0;
    this.version = null;
    return done;
  }
}

/** Connection events travel as tuples in this order (a third of the bytes of objects). */
const EVENT_FIELDS = [
  'listener',
  'routeId',
  'tenantId',
  'databaseId',
  'clientAddress',
  'clientPort',
  'sni',
  'alpn',
  'tlsVersion',
  'mode',
  'startedAt',
  'endedAt',
  'bytesIn',
  'bytesOut',
  'outcome',
  'reason',
  'upstream',
  'connectionId',
  'endedBy',
] as const satisfies ReadonlyArray<keyof ConnectionEventInput>;

export type EventTuple = Array<string | number | null>;

export function encodeEvent(e: ConnectionEventInput): EventTuple {
  return EVENT_FIELDS.map((f) => (e[f] === undefined ? null : e[f]));
}

export function decodeEvent(t: unknown): ConnectionEventInput | null {
  if (!Array.isArray(t) || t.length !== EVENT_FIELDS.length) return null;
  const e: Record<string, unknown> = {};
  EVENT_FIELDS.forEach((f, i) => (e[f] = t[i]));
  const str = (v: unknown) => typeof v === 'string';
  const strOrNull = (v: unknown) => v === null || typeof v === 'string';
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  const ok =
    str(e.listener) &&
    strOrNull(e.routeId) &&
    strOrNull(e.tenantId) &&
    strOrNull(e.databaseId) &&
    strOrNull(e.clientAddress) &&
    num(e.clientPort) &&
    strOrNull(e.sni) &&
    strOrNull(e.alpn) &&
    strOrNull(e.tlsVersion) &&
    strOrNull(e.mode) &&
    num(e.startedAt) &&
    num(e.endedAt) &&
    num(e.bytesIn) &&
    num(e.bytesOut) &&
    str(e.outcome) &&
    str(e.reason) &&
    strOrNull(e.upstream) &&
    strOrNull(e.connectionId) &&
    strOrNull(e.endedBy);
  return ok ? (e as unknown as ConnectionEventInput) : null;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function isSlotKey(v: unknown): v is SlotKey {
  return (
    isObj(v) &&
    typeof v.routeId === 'string' &&
    typeof v.tenantId === 'string' &&
    (v.routeMax === null || isInt(v.routeMax)) &&
    (v.tenantMax === null || isInt(v.tenantMax))
  );
}

function isRefusal(m: Record<string, unknown>): boolean {
  if (typeof m.address !== 'string') return false;
  if (m.t === 'refusal-taken') return true;
  return typeof m.code === 'string' && m.code in REFUSALS && (m.hostname === null || typeof m.hostname === 'string');
}

/** A worker's message, checked; null for anything that is not one (ignored by the primary). */
export function decodeFromWorker(raw: unknown): FromWorker | null {
  if (!isObj(raw) || raw.sy !== 1 || typeof raw.t !== 'string') return null;
  const m = raw;
  switch (m.t) {
    case 'hello':
    case 'bye':
      return m as FromWorker;
    case 'applied':
      return isNum(m.version) && isInt(m.routes) ? (m as FromWorker) : null;
    case 'listening':
      return isObj(m.ports) && Object.values(m.ports).every(isInt) ? (m as FromWorker) : null;
    case 'resync':
      return m.have === null || isNum(m.have) ? (m as FromWorker) : null;
    case 'events':
      return Array.isArray(m.events) && isInt(m.dropped) ? (m as FromWorker) : null;
    case 'acquire':
      return isInt(m.id) && isSlotKey(m.key) ? (m as FromWorker) : null;
    case 'release':
      return isSlotKey(m.key) ? (m as FromWorker) : null;
    case 'metrics':
      return isInt(m.id) && Array.isArray(m.metrics) ? (m as FromWorker) : null;
    case 'stats':
      return isInt(m.open) && isInt(m.routed) && (m.conns === undefined || (Array.isArray(m.conns) && m.conns.every(isObj))) ? (m as FromWorker) : null;
    case 'cancel':
      return isInt(m.worker) && typeof m.bytes === 'string' ? (m as FromWorker) : null;
    case 'accepting-stopped':
      return isInt(m.open) ? (m as FromWorker) : null;
    case 'refusal':
    case 'refusal-taken':
      return isRefusal(m) ? (m as FromWorker) : null;
    default:
      return null;
  }
}

/** The primary's message, checked; null for anything else. */
export function decodeToWorker(raw: unknown): ToWorker | null {
  if (!isObj(raw) || raw.sy !== 1 || typeof raw.t !== 'string') return null;
  const m = raw;
  const committed = m.committedAt === null || isNum(m.committedAt);
  switch (m.t) {
    case 'snapshot':
      return isNum(m.version) && committed && isInt(m.part) && typeof m.last === 'boolean' && isInt(m.count) && typeof m.routes === 'string' ? (m as ToWorker) : null;
    case 'delta':
      return isNum(m.from) && isNum(m.version) && committed && Array.isArray(m.upserts) && Array.isArray(m.deletes) ? (m as ToWorker) : null;
    case 'slot':
      return isInt(m.id) && (m.refusal === null || typeof m.refusal === 'string') ? (m as ToWorker) : null;
    case 'metrics':
      return isInt(m.id) ? (m as ToWorker) : null;
    case 'cancel':
      return typeof m.bytes === 'string' ? (m as ToWorker) : null;
    case 'refusal':
    case 'refusal-taken':
      return isRefusal(m) ? (m as ToWorker) : null;
    case 'stop-accepting':
      return m as ToWorker;
    case 'drain':
      return isInt(m.timeoutMs) ? (m as ToWorker) : null;
    case 'terminate':
      return typeof m.id === 'string' && typeof m.by === 'string' ? (m as ToWorker) : null;
    default:
      return null;
  }
}
