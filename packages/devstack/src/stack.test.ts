/**
 * `npm start` as a newcomer meets it when something is in the way: the real launcher
 * (main.ts → stack.ts, from sources) in a child process, stopped by its checks before any
 * database starts. Each case must end with one clear message and exit code 1 — never a
 * stack trace.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function hold(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { server, port: (server.address() as { port: number }).port };
}

async function freePort(): Promise<number> {
  const { server, port } = await hold();
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Every port and the data folder of a stack of its own, so nothing collides with a running one. */
async function isolatedEnv(): Promise<NodeJS.ProcessEnv> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-stack-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const [control, demo, api, apiMetrics, admin, pgl, tls] = await Promise.all(Array.from({ length: 7 }, freePort));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SWITCHYARD_DATA_DIR: dataDir,
    SWITCHYARD_CONTROL_PG_PORT: String(control),
    SWITCHYARD_DEMO_PG_PORT: String(demo),
    API_PORT: String(api),
    API_METRICS_PORT: String(apiMetrics),
    PROXY_ADMIN_PORT: String(admin),
    SWITCHYARD_LISTENERS: `postgres=postgres@127.0.0.1:${pgl},tls=tls@127.0.0.1:${tls}`,
  };
  delete env.DATABASE_URL;
  delete env.KUBECONFIG;
  return env;
}

function runStack(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=switchyard-source', '--import', 'tsx', MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

function expectNoStackTrace(output: string): void {
  expect(output).not.toMatch(/^\s+at /m);
  expect(output).not.toContain('undefined');
}

describe('npm start refuses clearly', () => {
  it('a port another program holds: names it and the variable that moves it', async () => {
    const env = await isolatedEnv();
    const { port } = await hold();
    env.API_PORT = String(port);
    const { code, output } = await runStack(env);
    expect(code).toBe(1);
    expect(output).toContain(`start failed: cannot start: a port Switchyard needs is not free.`);
    expect(output).toContain(`127.0.0.1:${port} (API and dashboard) is already in use: free it or set API_PORT`);
    expect(output).not.toContain('starting embedded PostgreSQL');
    expectNoStackTrace(output);
  });

  it('the API\'s metrics port taken: names it and API_METRICS_PORT', async () => {
    const env = await isolatedEnv();
    const { port } = await hold();
    env.API_METRICS_PORT = String(port);
    const { code, output } = await runStack(env);
    expect(code).toBe(1);
    expect(output).toContain(`127.0.0.1:${port} (API metrics) is already in use: free it or set API_METRICS_PORT`);
    expect(output).not.toContain('starting embedded PostgreSQL');
    expectNoStackTrace(output);
  });

  it('running twice from the same folder: points at the stack that runs', async () => {
    const env = await isolatedEnv();
    // This test process stands for the first npm start.
    writeFileSync(join(env.SWITCHYARD_DATA_DIR!, 'stack.pid'), `${process.pid}\n`);
    const { code, output } = await runStack(env);
    expect(code).toBe(1);
    expect(output).toContain(`Switchyard is already running from ${env.SWITCHYARD_DATA_DIR} (process ${process.pid})`);
    expect(existsSync(join(env.SWITCHYARD_DATA_DIR!, 'stack.pid'))).toBe(true); // the running stack's file stays
    expectNoStackTrace(output);
  });

  it('DATABASE_URL pointing at a server that is down', async () => {
    const env = await isolatedEnv();
    const port = await freePort();
    env.DATABASE_URL = `postgres://app:hunter2@127.0.0.1:${port}/switchyard`;
    const { code, output } = await runStack(env);
    expect(code).toBe(1);
    expect(output).toContain(`cannot connect to the control database given in DATABASE_URL (postgres://app:***@127.0.0.1:${port}/switchyard)`);
    expect(output).toContain(`nothing accepts connections at 127.0.0.1:${port}`);
    expect(output).not.toContain('hunter2');
    expectNoStackTrace(output);
  });

  it('a bad setting', async () => {
    const env = await isolatedEnv();
    env.SWITCHYARD_CONTROL_PG_PORT = 'fifty';
    const { code, output } = await runStack(env);
    expect(code).toBe(1);
    expect(output).toContain('invalid npm start configuration');
    expect(output).toContain('SWITCHYARD_CONTROL_PG_PORT="fifty"');
    expectNoStackTrace(output);
  });
});
