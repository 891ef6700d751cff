/**
 * Runs the API and proxy as child processes (as in production) and stops them (SIGTERM,
 * then SIGKILL after a grace period) when the stack stops. Their logs go to a file each;
 * the terminal shows warnings and errors (or everything, when asked), prefixed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { StartError } from './errors.js';

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** Turns pino JSON lines into one readable line; other text passes through. */
export function formatLogLine(line: string): string {
  if (!line.startsWith('{')) return line;
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    const { level, time, msg, pid: _pid, hostname: _h, svc: _s, proxyId: _p, reqId, req, res, responseTime, ...rest } = o;
    let extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
    if (req && typeof req === 'object') extra = ` ${(req as { method?: string }).method} ${(req as { url?: string }).url}${extra}`;
    if (res && typeof res === 'object') extra = ` ${(res as { statusCode?: number }).statusCode} ${Math.round(Number(responseTime ?? 0))}ms${extra}`;
    const t = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
    const lvl = LEVELS[level as number] ?? String(level);
    const id = typeof reqId === 'string' ? ` [${reqId.slice(0, 8)}]` : '';
    return `${t} ${lvl} ${typeof msg === 'string' ? msg : ''}${id}${extra}`;
  } catch {
    return line;
  }
}

/** pino's numeric level of a JSON log line; null for other text (always shown). */
export function logLevelOf(line: string): number | null {
  if (!line.startsWith('{')) return null;
  const m = /"level":(\d+)/.exec(line);
  return m ? Number(m[1]) : null;
}

export interface OutputOptions {
  /** Every line, formatted, is appended here. */
  logFile?: string;
  /** Lines at this pino level or above reach the terminal (text that is not JSON always does). */
  consoleLevel: number;
  /**
   * How long stop() waits after SIGTERM before SIGKILL (default 15 s). The proxy needs its
   * whole drain: killed earlier, it loses the connection events it had still to write.
   */
  stopGraceMs?: number;
}

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export function startProcess(name: string, args: string[], env: NodeJS.ProcessEnv, onExit: (code: number | null) => void, output: OutputOptions = { consoleLevel: 0 }): ManagedProcess {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const tag = `[${name}]`.padEnd(8);
  const file = output.logFile ? createWriteStream(output.logFile, { flags: 'a' }) : null;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      const text = formatLogLine(line);
      file?.write(`${text}\n`);
      const level = logLevelOf(line);
      if (level === null || level >= output.consoleLevel) process.stdout.write(`${tag} ${text}\n`);
    });
  }
  child.once('exit', () => file?.end());
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = true;
      onExit(code);
      resolve();
    }),
  );
  return {
    name,
    child,
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), output.stopGraceMs ?? 15_000);
      await exitedPromise;
      clearTimeout(timer);
    },
  };
}

/** Polls a readiness URL until it answers 200 (used at start-up only). */
export async function waitForHttp(url: string, timeoutMs: number, isAlive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!isAlive()) throw new StartError(`the process serving ${url} exited`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new StartError(`${url} not ready after ${timeoutMs} ms (${last}); the logs under .switchyard/logs/ say why`);
}
