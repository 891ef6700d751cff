/**
 * What `npm start` prints when it cannot start. A newcomer gets what is wrong and how to fix
 * it in a few lines; a stack trace is printed only for what nobody foresaw (a bug to report).
 */
import { EmbeddedPostgresAccessError } from '@switchyard/db';

/** A failure that explains itself: printed as is, without a stack. */
export class StartError extends Error {
  override readonly name = 'StartError';
}

/** A postgres:// URL with its password replaced, fit for a terminal. */
export function maskUrl(url: string): string {
  return url.replace(/:[^:@/]+@/, ':***@');
}

/** The text `npm start` prints for a failed start (without the "start failed:" prefix). */
export function describeStartError(err: unknown): string {
  if (err instanceof StartError || err instanceof EmbeddedPostgresAccessError) return err.message;
  if (err instanceof Error) return `unexpected error (a bug: please report it with this output)\n${err.stack ?? err.message}`;
  return `unexpected error (a bug: please report it with this output): ${String(err)}`;
}

/**
 * Why a connection to the control database (DATABASE_URL) failed, in words, with the fix.
 * `err` is what node-postgres rejected with: a network error (`code` ECONNREFUSED, …) or a
 * server ErrorResponse (`code` a SQLSTATE).
 */
export function explainControlDatabaseError(url: string, err: unknown): StartError {
  const e = err as { code?: string; message?: string };
  let where: string;
  try {
    const u = new URL(url);
    where = `${u.hostname}:${u.port || '5432'}`;
  } catch {
    where = maskUrl(url);
  }
  const reason = (() => {
    switch (e.code) {
      case 'ECONNREFUSED':
        return `nothing accepts connections at ${where}: is that PostgreSQL server running?`;
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return `the host name in it does not resolve (${e.code})`;
      case 'ETIMEDOUT':
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return `${where} cannot be reached (${e.code}): a firewall, a wrong address or a server that is down`;
      case '28P01':
        return 'the server refused the user name or password';
      case '28000':
        return `the server refused the connection (pg_hba.conf): ${e.message ?? ''}`;
      case '3D000':
        return `${e.message ?? 'the database does not exist'}: create it (CREATE DATABASE) or name an existing one`;
      case '57P03':
        return 'the server is starting up or shutting down: try again in a moment';
      default:
        return e.message ? `${e.message}${e.code ? ` (${e.code})` : ''}` : String(err);
    }
  })();
  return new StartError(
    [
      `cannot connect to the control database given in DATABASE_URL (${maskUrl(url)}):`,
      `  ${reason}`,
      'Fix DATABASE_URL, or unset it to let npm start run an embedded PostgreSQL under .switchyard/.',
    ].join('\n'),
  );
}
