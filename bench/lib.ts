/** Shared helpers for benchmarks: scratch databases, child processes, statistics. */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate, startEmbeddedPostgres } from '@switchyard/db';
import { getFreePort } from '@switchyard/db/testing';
import pg from 'pg';

export const root = join(fileURLToPath(import.meta.url), '..', '..');

export interface ScratchDb {
  url: string;
  /** Data folder of the embedded server (null when DATABASE_URL was used). */
  dataDir: string | null;
  close(): Promise<void>;
}

/** A migrated database on DATABASE_URL's server, or on a fresh embedded PostgreSQL. */
export async function scratchDatabase(name: string): Promise<ScratchDb> {
  let serverUrl = process.env.DATABASE_URL;
  let stop = async () => {};
  let dataDir: string | null = null;
  if (!serverUrl) {
    const dir = mkdtempSync(join(tmpdir(), 'sy-bench-'));
    chmodSync(dir, 0o755);
    const server = await startEmbeddedPostgres({ dataDir: join(dir, 'data'), port: await getFreePort(), settings: { max_connections: '300' } });
    serverUrl = server.url;
    dataDir = server.dataDir;
    stop = async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  await migrate(u.toString());
  return { url: u.toString(), dataDir, close: stop };
}

export interface Child {
  child: ChildProcess;
  output(): string;
  waitFor(text: string): Promise<void>;
  stop(): Promise<void>;
}

/** Runs a TypeScript entry point of this repository as its own process. */
export function runTs(entry: string, env: NodeJS.ProcessEnv, cpus?: string): Child {
  const args = ['--conditions=switchyard-source', '--import', 'tsx', join(root, entry)];
  const child = cpus ? spawn('taskset', ['-c', cpus, process.execPath, ...args], { env: { ...process.env, ...env } }) : spawn(process.execPath, args, { env: { ...process.env, ...env } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return {
    child,
    output: () => out,
    waitFor: (text) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (out.includes(text)) {
            child.stdout.off('data', check);
            resolve();
          }
        };
        child.stdout.on('data', check);
        child.once('exit', (code) => reject(new Error(`${entry} exited (${code}) before "${text}":\n${out}`)));
        check();
      }),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summary(values: number[]): { p50: number; p90: number; p99: number; max: number; mean: number } {
  const s = [...values].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN, mean: s.reduce((a, b) => a + b, 0) / s.length };
}

export const ms = (n: number) => `${n.toFixed(1)} ms`;

/** A proxy's Prometheus text from its admin port; null when the scrape fails (a busy or stopped proxy). */
export async function scrapeMetrics(adminPort: number | string): Promise<string | null> {
  try {
    return await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  } catch {
    return null;
  }
}

/** The first capture of `re` in Prometheus text as a number (NaN when absent). */
export const metricValue = (text: string | null, re: RegExp): number => Number(re.exec(text ?? '')?.[1] ?? NaN);
