/**
 * Real client programs (psql, redis-cli, openssl). A missing tool fails the test with the
 * package to install — never a skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { requireTool } from '@switchyard/testkit';

export { requireTool };

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(requireTool(cmd), args, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A client that exits before reading its input (openssl s_client after a failed or quick
    // handshake) makes the write fail with EPIPE; its exit code and output say what happened.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Starts a long-running client and returns it with a promise of its result. */
export function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; done: Promise<RunResult> } {
  const child = spawn(requireTool(cmd), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<RunResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

/** libpq connection string that sends SNI for `host` but dials 127.0.0.1 (no DNS needed). */
export function libpq(host: string, port: number, extra: Record<string, string> = {}): string {
  const params = { host, hostaddr: '127.0.0.1', port: String(port), user: 'postgres', dbname: 'postgres', connect_timeout: '10', ...extra };
  return Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

export interface PsqlSession {
  /** Runs one statement; resolves with its output, rejects if psql exits first. */
  query(sql: string): Promise<string>;
  /** Resolves when psql exits (on its own, or after `quit`). */
  exited: Promise<RunResult>;
  quit(): Promise<RunResult>;
}

/**
 * A long-lived psql session fed through stdin, one statement at a time: what an
 * application's open connection looks like to the proxy. Each statement is followed by an
 * `\echo` marker so its output can be awaited without timing guesses.
 */
export function psqlSession(conn: string, env: NodeJS.ProcessEnv = { PGPASSWORD: 'postgres' }): PsqlSession {
  const child = spawn(requireTool('psql'), ['-X', '-A', '-t', '-q', conn], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let waiter: (() => void) | null = null;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    waiter?.();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<RunResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  let seq = 0;
  return {
    exited,
    query: (sql) => {
      const marker = `--done-${++seq}--`;
      const from = stdout.length;
      child.stdin.write(`${sql};\n\\echo ${marker}\n`);
      return new Promise<string>((resolve, reject) => {
        const check = () => {
          const at = stdout.indexOf(marker, from);
          if (at < 0) return;
          waiter = null;
          resolve(stdout.slice(from, at).trim());
        };
        waiter = check;
        check();
        void exited.then((r) => reject(new Error(`psql exited (${r.code}) before "${sql}" finished: ${r.stderr}`)));
      });
    },
    quit: () => {
      child.stdin.end('\\q\n');
      return exited;
    },
  };
}

/**
 * Asserts that psql finds its connection closed by the other side: runs `sql`, expects it to
 * fail and psql to exit saying so. Call it only once the proxy has reported the connection
 * gone — a query sent earlier succeeds and psql then sits idle on a dead socket; here that
 * fails at once instead of hanging.
 */
export async function expectPsqlDisconnected(session: PsqlSession, sql = 'select 1'): Promise<void> {
  const err = await session.query(sql).then(
    () => null,
    (e: Error) => e.message,
  );
  if (err === null) {
    await session.quit();
    throw new Error(`psql still ran "${sql}" after the proxy reported its connection closed`);
  }
  const exit = await session.exited;
  if (!/server closed the connection|connection to server .* lost|SSL SYSCALL error|terminat/i.test(`${err}\n${exit.stderr}`)) {
    throw new Error(`psql failed, but not for a closed connection: ${err}\n${exit.stderr}`);
  }
}

/**
 * Fails with the fix when this process may open fewer than `needed` files: tests that hold
 * a thousand sockets (twice: client and proxy side) need a raised `ulimit -n`.
 */
export function requireOpenFiles(needed: number): void {
  const r = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const limit = r.stdout.trim() === 'unlimited' ? Infinity : Number(r.stdout.trim());
  if (!(limit >= needed)) throw new Error(`this test needs ${needed} open files but ulimit -n is ${r.stdout.trim()}; raise it (e.g. ulimit -n 65536)`);
}
