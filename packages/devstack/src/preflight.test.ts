import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StartError } from './errors.js';
import { acquireStackLock, checkControlDatabase, checkPortsFree, processStart, runningStack } from './preflight.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sy-devstack-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function listening(host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
  const server = createServer();
  const sockets = new Set<Socket>();
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen({ host, port: 0 }, r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { server, port: (server.address() as { port: number }).port };
}

/** A port nobody listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('acquireStackLock', () => {
  it('refuses a second stack on the same data folder, naming the running one', () => {
    const dir = tempDir();
    // The test runner itself stands for the stack that is running.
    writeFileSync(join(dir, 'stack.pid'), `${process.pid}\n`);
    let err: unknown;
    try {
      acquireStackLock(dir, process.pid + 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StartError);
    expect((err as Error).message).toContain(`already running from ${dir} (process ${process.pid})`);
    expect((err as Error).message).toContain(`kill -INT ${process.pid}`);
    expect(readFileSync(join(dir, 'stack.pid'), 'utf8').trim()).toBe(String(process.pid));
  });

  it('takes over the file of a stack that died, and release removes only its own', async () => {
    const dir = tempDir();
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.once('exit', r));
    writeFileSync(join(dir, 'stack.pid'), `${dead.pid}\n`);
    const release = acquireStackLock(dir, process.pid);
    expect(readFileSync(join(dir, 'stack.pid'), 'utf8').split('\n')[0]).toBe(String(process.pid));
    release();
    expect(existsSync(join(dir, 'stack.pid'))).toBe(false);
  });

  it('takes over a file whose pid now belongs to another process (a reused pid)', () => {
    const dir = tempDir();
    const start = processStart(process.pid);
    expect(start, 'this test needs /proc').not.toBeNull();
    // The test runner is alive, but it is not the process that wrote this file.
    writeFileSync(join(dir, 'stack.pid'), `${process.pid}\n${Number(start) + 1}\n`);
    const release = acquireStackLock(dir, process.pid + 1);
    expect(readFileSync(join(dir, 'stack.pid'), 'utf8').split('\n')[0]).toBe(String(process.pid + 1));
    release();
  });

  it('records its start time, which names this process', () => {
    const dir = tempDir();
    const release = acquireStackLock(dir, process.pid);
    expect(readFileSync(join(dir, 'stack.pid'), 'utf8')).toBe(`${process.pid}\n${processStart(process.pid)}\n`);
    release();
  });

  it('release leaves a file another stack wrote since', () => {
    const dir = tempDir();
    const release = acquireStackLock(dir, process.pid);
    writeFileSync(join(dir, 'stack.pid'), '4242\n');
    release();
    expect(readFileSync(join(dir, 'stack.pid'), 'utf8').trim()).toBe('4242');
  });
});

describe('runningStack (what npm start checks before its build)', () => {
  it('names a live stack, and nothing for no file, a dead pid, a reused pid or itself', async () => {
    const dir = tempDir();
    expect(runningStack(dir)).toBeNull();
    writeFileSync(join(dir, 'stack.pid'), `${process.pid}\n${processStart(process.pid)}\n`);
    expect(runningStack(dir, process.pid + 1)).toBe(process.pid);
    expect(runningStack(dir, process.pid)).toBeNull();
    writeFileSync(join(dir, 'stack.pid'), `${process.pid}\n${Number(processStart(process.pid)) + 1}\n`);
    expect(runningStack(dir, process.pid + 1)).toBeNull();
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.once('exit', r));
    writeFileSync(join(dir, 'stack.pid'), `${dead.pid}\n`);
    expect(runningStack(dir)).toBeNull();
  });
});

describe('checkPortsFree', () => {
  it('passes when every port is free', async () => {
    const port = await closedPort();
    await expect(checkPortsFree([{ host: '127.0.0.1', port, what: 'the API', variable: 'API_PORT' }])).resolves.toBeUndefined();
  });

  it('names every taken port, what needs it and the variable that moves it', async () => {
    const a = await listening('127.0.0.1');
    const b = await listening('127.0.0.1');
    const free = await closedPort();
    const check = checkPortsFree([
      { host: '127.0.0.1', port: a.port, what: 'API and dashboard', variable: 'API_PORT' },
      { host: '127.0.0.1', port: free, what: 'demo database', variable: 'SWITCHYARD_DEMO_PG_PORT' },
      // A wildcard bind collides with a loopback one.
      { host: '0.0.0.0', port: b.port, what: 'proxy listener "postgres"', variable: 'SWITCHYARD_LISTENERS' },
    ]);
    await expect(check).rejects.toBeInstanceOf(StartError);
    const message = await check.catch((e: Error) => e.message);
    expect(message).toContain(`127.0.0.1:${a.port} (API and dashboard) is already in use: free it or set API_PORT`);
    expect(message).toContain(`0.0.0.0:${b.port} (proxy listener "postgres") is already in use: free it or set SWITCHYARD_LISTENERS`);
    expect(message).not.toContain(String(free));
  });
});

describe('checkControlDatabase', () => {
  it('reports a server that is down by address, with the password masked and the fix', async () => {
    const port = await closedPort();
    const url = `postgres://app:s3cret@127.0.0.1:${port}/switchyard`;
    const err = await checkControlDatabase(url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartError);
    const message = (err as Error).message;
    expect(message).toContain(`postgres://app:***@127.0.0.1:${port}/switchyard`);
    expect(message).toContain(`nothing accepts connections at 127.0.0.1:${port}`);
    expect(message).toContain('unset it');
    expect(message).not.toContain('s3cret');
  });

  it('reports a server that accepts but never answers once the deadline passes', async () => {
    const { port } = await listening('127.0.0.1'); // accepts TCP, never speaks PostgreSQL
    const err = await checkControlDatabase(`postgres://app:pw@127.0.0.1:${port}/switchyard`, 300).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartError);
    expect((err as Error).message).toMatch(/timeout/i);
  });
});
