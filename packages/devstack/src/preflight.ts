/**
 * Checks made before anything starts, so the usual newcomer mistakes end in one clear
 * message instead of a half-started stack: `npm start` already running from the same folder,
 * a port some other program holds, a DATABASE_URL that cannot be reached.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { explainControlDatabaseError, StartError } from './errors.js';

export interface PortNeed {
  host: string;
  port: number;
  /** What binds it, e.g. "the API". */
  what: string;
  /** The variable that moves it, e.g. "API_PORT". */
  variable: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When the process started (`/proc/<pid>/stat` field 22, clock ticks since boot), or null
 * where there is no /proc. With the pid it names one process: a pid written by a stack that
 * died may belong to another program by now (a container restarted, a machine rebooted).
 */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (the command) is in parentheses and may hold spaces or parentheses itself.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * The pid of a live stack that holds `<dataDir>/stack.pid`, or null: no file, or one left by a
 * stack that died (or whose pid now belongs to another process). `self` never counts.
 */
export function runningStack(dataDir: string, self = process.pid): number | null {
  let text: string;
  try {
    text = readFileSync(join(dataDir, 'stack.pid'), 'utf8');
  } catch {
    return null;
  }
  const [otherPid, otherStart] = text.split('\n');
  const other = Number.parseInt(otherPid ?? '', 10);
  // Alive, and (where both are known) the same process that wrote the file, not a reused pid.
  const same = !otherStart || processStart(other) === null || processStart(other) === otherStart;
  return Number.isInteger(other) && other > 0 && other !== self && isAlive(other) && same ? other : null;
}

/** What a second `npm start` on the same folder is told (before its build, and at the lock). */
export function alreadyRunning(dataDir: string, pid: number): StartError {
  return new StartError(
    [
      `Switchyard is already running from ${dataDir} (process ${pid}).`,
      'Use that one (its terminal printed the dashboard address), or stop it first: Ctrl-C in its',
      `terminal, or kill -INT ${pid}. To run a second stack beside it, give it its own`,
      'SWITCHYARD_DATA_DIR and ports (docs/configuration.md "Local stack").',
    ].join('\n'),
  );
}

/**
 * Takes `<dataDir>/stack.pid` for this process (its pid, then its start time). Another live stack on the same folder
 * (whose embedded databases and ports this one would collide with) is refused by name; a
 * file left by a stack that died is taken over. Returns the release function.
 */
export function acquireStackLock(dataDir: string, pid = process.pid): () => void {
  const path = join(dataDir, 'stack.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${pid}\n${processStart(pid) ?? ''}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8').split('\n')[0] === String(pid)) rmSync(path);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const other = runningStack(dataDir, pid);
    if (other !== null) throw alreadyRunning(dataDir, other);
    rmSync(path, { force: true }); // left by a stack that did not stop cleanly (or its pid reused)
  }
  throw new StartError(`could not take ${path}: another npm start is starting at the same moment`);
}

function tryListen(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

/** Refuses to start, naming every port that is taken and the variable that moves it. */
export async function checkPortsFree(needs: readonly PortNeed[]): Promise<void> {
  const taken: string[] = [];
  for (const n of needs) {
    const err = await tryListen(n.host, n.port);
    if (!err) continue;
    const why = err.code === 'EADDRINUSE' ? 'is already in use' : err.code === 'EACCES' ? 'may not be bound by this user' : `cannot be bound (${err.code ?? err.message})`;
    taken.push(`  ${n.host}:${n.port} (${n.what}) ${why}: free it or set ${n.variable}`);
  }
  if (taken.length === 0) return;
  throw new StartError(
    [
      `cannot start: ${taken.length === 1 ? 'a port Switchyard needs is' : 'ports Switchyard needs are'} not free.`,
      ...taken,
      'Another npm start (from another folder) or program holds it; `ss -ltnp` shows which.',
    ].join('\n'),
  );
}

/**
 * Connects to DATABASE_URL once, with a deadline, so a server that is down or unreachable is
 * reported as such (instead of a connection error from deep inside the migration runner).
 */
export async function checkControlDatabase(url: string, timeoutMs = 10_000): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  // A connection the server ends is reported by connect()/query(); keep the event quiet.
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw explainControlDatabaseError(url, err);
  } finally {
    await client.end().catch(() => {});
  }
}
