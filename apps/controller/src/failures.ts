/**
 * What a failure while applying one object's route means for the reconcile.
 *
 * - The control database is unreachable or dropped the connection: every object would fail
 *   the same way, and it is nobody's fault. The whole reconcile fails and is retried later
 *   (no object is blamed in its status).
 * - Anything else unexpected (a bug, a constraint the domain services did not translate, a
 *   row in a state they did not expect) belongs to that object: it gets a status condition
 *   naming the error and is retried with backoff, and the other objects proceed.
 */
import { Prisma } from '@switchyard/db';

/** Prisma's connection-level errors (https://www.prisma.io/docs/orm/reference/error-reference). */
const PRISMA_OUTAGE_CODES = new Set([
  'P1001', // can't reach the database server
  'P1002', // reached, but timed out
  'P1008', // operations timed out
  'P1011', // error opening a TLS connection
  'P1017', // the server closed the connection
  'P2024', // timed out fetching a connection from the pool
  'P2028', // transaction API error: could not start in time, or expired (the API answers 503 too)
  'P2037', // too many database connections opened
]);

/** The pg driver adapter's error kinds that are about the connection, not the statement. */
const ADAPTER_OUTAGE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TlsConnectionError', 'TooManyConnections', 'DatabaseDoesNotExist', 'DatabaseAccessDenied', 'AuthenticationFailed']);

/**
 * SQLSTATEs of a server going away or refusing work (https://www.postgresql.org/docs/current/errcodes-appendix.html):
 * class 08 (connection exception), 53 (insufficient resources), 57P01–57P05 (shutdown, crash,
 * cannot connect now, database dropped, idle session timeout).
 */
function isOutageSqlState(code: unknown): boolean {
  return typeof code === 'string' && (code.startsWith('08') || code.startsWith('53') || /^57P0[1-5]$/.test(code));
}

/** Messages of node-postgres and Node socket errors that reach us unwrapped. */
const OUTAGE_MESSAGE = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|Can't reach database server/i;

interface AdapterCause {
  kind?: string;
  code?: string;
  originalCode?: string;
  message?: string;
  originalMessage?: string;
}

function adapterCause(err: unknown): AdapterCause | undefined {
  const meta = (err as { meta?: { driverAdapterError?: { cause?: AdapterCause } } } | null)?.meta;
  return meta?.driverAdapterError?.cause;
}

/** True when `err` says the control database is unreachable (a whole-reconcile failure). */
export function isControlDatabaseOutage(err: unknown): boolean {
  if (err instanceof Prisma.PrismaClientInitializationError || err instanceof Prisma.PrismaClientRustPanicError) return true;
  const cause = adapterCause(err);
  if (cause) {
    if (cause.kind && ADAPTER_OUTAGE_KINDS.has(cause.kind)) return true;
    if (isOutageSqlState(cause.originalCode ?? cause.code)) return true;
  }
  if (err instanceof Prisma.PrismaClientKnownRequestError) return PRISMA_OUTAGE_CODES.has(err.code);
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e && typeof e.code === 'string' && (isOutageSqlState(e.code) || OUTAGE_MESSAGE.test(e.code))) return true;
  return typeof e?.message === 'string' && OUTAGE_MESSAGE.test(e.message);
}

/**
 * A one-line account of an error for a status condition: the database's own message when the
 * error came from it (Prisma's message quotes the calling source code over several lines).
 */
export function describeError(err: unknown): string {
  const cause = adapterCause(err);
  const fromDb = cause?.originalMessage ?? cause?.message;
  const code = cause?.originalCode ?? cause?.code;
  let text: string;
  if (fromDb) text = code && code !== 'N/A' ? `${fromDb} (SQLSTATE ${code})` : fromDb;
  else {
    const message = err instanceof Error ? err.message : String(err);
    const lines = message.split('\n').map((l) => l.trim()).filter(Boolean);
    text = lines.at(-1) ?? (err instanceof Error ? err.name : 'unknown error');
  }
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}
