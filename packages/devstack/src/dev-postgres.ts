/**
 * The stack's embedded PostgreSQL servers, with their server log kept in
 * `.switchyard/logs/<name>.log`. A failed start (EmbeddedPostgresStartError, which carries the
 * lines of the server's log that say why) is told with the database's name and advice.
 */
import { appendFileSync } from 'node:fs';
import { EmbeddedPostgresStartError, startEmbeddedPostgres, type EmbeddedPostgresOptions, type RunningPostgres } from '@switchyard/db';
import { StartError } from './errors.js';

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
  const { logFile, portVariable, ...options } = opts;
  const onLog = (text: string): void => {
    for (const line of text.split('\n')) if (line) appendFileSync(logFile, `${line}\n`);
  };
  try {
    return await startEmbeddedPostgres({ ...options, onLog });
  } catch (err) {
    // initdb's errors, EmbeddedPostgresAccessError: they say what happened.
    if (!(err instanceof EmbeddedPostgresStartError)) throw err;
    const failure = err.failure;
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
