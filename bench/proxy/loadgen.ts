/**
 * The load generator of the proxy benchmark, run as its own process (pinned away from the
 * proxy core). The parent sends one command at a time over IPC and gets one answer:
 *  - conns:      closed-loop new TLS connections (full handshake, no session resumption,
 *                one small echo, close) at a fixed concurrency;
 *  - bulk:       N long streams (TLS passthrough, or plain bytes after a ClientHello), either
 *                direction: download (the backend writes) or upload (this process writes;
 *                bytes are counted as the socket accepts them, which in steady state — all
 *                buffers on the way full — is what reaches the backend);
 *  - idle-open / idle-close: hold N established passthrough connections open.
 * Measurement windows (after a warm-up) are timed here, and the proxy's CPU time is read
 * from /proc at the window edges, so both sides of the ratio cover the same interval.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { buildClientHello } from '@switchyard/wire';
import { summary } from '../lib.js';
import { treeCpuMicros } from './procfs.js';

export interface ConnsCommand {
  cmd: 'conns';
  port: number;
  servername: string;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Root pid of the proxy whose CPU is charged to the connections (0 = none). */
  cpuPid: number;
}
export interface ConnsResult {
  completed: number;
  errors: number;
  seconds: number;
  rate: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerConn: number | null;
  firstError: string | null;
}
export interface BulkCommand {
  cmd: 'bulk';
  kind: 'tls' | 'plain';
  /** down: the upstream streams to the client (query results); up: the client streams to the upstream (COPY FROM, restores). */
  direction: 'down' | 'up';
  port: number;
  servername: string;
  streams: number;
  warmupMs: number;
  durationMs: number;
  cpuPid: number;
}
export interface BulkResult {
  bytes: number;
  seconds: number;
  mibPerSec: number;
  /** Proxy CPU per MiB moved, microseconds. */
  cpuUsPerMiB: number | null;
}
export interface IdleOpenCommand {
  cmd: 'idle-open';
  port: number;
  servername: string;
  count: number;
  concurrency: number;
  /**
   * After the first echo, send this many bytes and wait for their echo before holding the
   * connection (a session that moved bulk data both ways, then went idle). Default 0.
   */
  bulkBytes?: number;
}
export type Command = ConnsCommand | BulkCommand | IdleOpenCommand | { cmd: 'idle-close' };

const PAYLOAD = Buffer.alloc(32, 0x78);
const UPLOAD_CHUNK = Buffer.alloc(64 * 1024, 0x75);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tlsOptions(port: number, servername: string) {
  // No `session`: Node never resumes unless handed one, so every handshake is full.
  return {
    host: '127.0.0.1',
    port,
    servername,
    rejectUnauthorized: false,
    noDelay: true,
  } as const;
}

/**
 * A connection that has not been echoed (and, held, moved its bulk bytes) by then fails: a
 * SYN the kernel dropped or a proxy that never forwards must not hang a slot — and with it
 * the run — for ever.
 */
const CONNECTION_DEADLINE_MS = 30_000;

/** One connection: full handshake, 32-byte echo, orderly close. Resolves with the echo latency. */
function oneConnection(port: number, servername: string, held?: TLSSocket[], bulkBytes = 0): Promise<number> {
  return new Promise<number>((resolveOk, rejectOk) => {
    const deadline = setTimeout(() => {
      s.destroy();
      rejectOk(new Error(`no echo within ${CONNECTION_DEADLINE_MS / 1000} s`));
    }, CONNECTION_DEADLINE_MS);
    const resolve = (v: number) => {
      clearTimeout(deadline);
      resolveOk(v);
    };
    const reject = (err: Error) => {
      clearTimeout(deadline);
      rejectOk(err);
    };
    const t0 = performance.now();
    let latency = 0;
    let got = 0;
    let bulkDone = false;
    const s = tlsConnect(tlsOptions(port, servername));
    s.once('secureConnect', () => s.write(PAYLOAD));
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= PAYLOAD.length && latency === 0) {
        latency = performance.now() - t0;
        if (bulkBytes > 0) {
          for (let n = 0; n < bulkBytes; n += UPLOAD_CHUNK.length) s.write(n + UPLOAD_CHUNK.length <= bulkBytes ? UPLOAD_CHUNK : UPLOAD_CHUNK.subarray(0, bulkBytes - n));
        } else if (held) {
          held.push(s);
          resolve(latency);
        } else {
          s.end();
        }
      } else if (bulkBytes > 0 && !bulkDone && got >= PAYLOAD.length + bulkBytes && held) {
        bulkDone = true;
        held.push(s);
        resolve(latency);
      }
    });
    s.once('error', (err: Error) => reject(err));
    s.once('close', () => (latency > 0 ? resolve(latency) : reject(new Error('closed before the echo'))));
  });
}

async function conns(c: ConnsCommand): Promise<ConnsResult> {
  let measuring = false;
  let stop = false;
  let completed = 0;
  let errors = 0;
  let firstError: string | null = null;
  const latencies: number[] = [];
  const slot = async () => {
    while (!stop) {
      try {
        const latency = await oneConnection(c.port, c.servername);
        if (measuring) {
          completed++;
          latencies.push(latency);
        }
      } catch (err) {
        if (measuring) errors++;
        firstError ??= (err as Error).message;
        await sleep(5); // a refusing target must not turn this into a busy loop
      }
    }
  };
  const slots = Array.from({ length: c.concurrency }, slot);
  await sleep(c.warmupMs);
  const cpu0 = c.cpuPid ? treeCpuMicros(c.cpuPid) : 0;
  const t0 = performance.now();
  measuring = true;
  await sleep(c.durationMs);
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = c.cpuPid ? treeCpuMicros(c.cpuPid) - cpu0 : null;
  stop = true;
  await Promise.all(slots);
  const s = summary(latencies);
  return {
    completed,
    errors,
    seconds,
    rate: completed / seconds,
    p50Ms: s.p50,
    p99Ms: s.p99,
    cpuUsPerConn: cpu === null || completed === 0 ? null : cpu / completed,
    firstError,
  };
}

async function bulk(c: BulkCommand): Promise<BulkResult> {
  let bytes = 0;
  let stopped = false;
  const sockets: Socket[] = [];
  const count = (d: Buffer) => {
    bytes += d.length;
  };
  /** Upload: write until the socket pushes back, go on at `drain`. */
  const pump = (s: Socket) => {
    const go = () => {
      while (!stopped && !s.destroyed) {
        bytes += UPLOAD_CHUNK.length;
        if (!s.write(UPLOAD_CHUNK)) return;
      }
    };
    s.on('drain', go);
    go();
  };
  const started = (s: Socket) => {
    if (c.direction === 'up') pump(s);
    else s.on('data', count);
  };
  await Promise.all(
    Array.from(
      { length: c.streams },
      () =>
        new Promise<void>((resolve, reject) => {
          if (c.kind === 'tls') {
            const s = tlsConnect(tlsOptions(c.port, c.servername));
            sockets.push(s);
            s.once('error', reject);
            s.once('secureConnect', () => {
              if (c.direction === 'down') s.write('go');
              started(s);
              resolve();
            });
          } else {
            const s = tcpConnect({
              host: '127.0.0.1',
              port: c.port,
              noDelay: true,
            });
            sockets.push(s);
            s.once('error', reject);
            s.once('connect', () => {
              s.write(buildClientHello({ serverName: c.servername }));
              started(s);
              resolve();
            });
          }
        }),
    ),
  );
  await sleep(c.warmupMs);
  const b0 = bytes;
  const cpu0 = c.cpuPid ? treeCpuMicros(c.cpuPid) : 0;
  const t0 = performance.now();
  await sleep(c.durationMs);
  const moved = bytes - b0;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = c.cpuPid ? treeCpuMicros(c.cpuPid) - cpu0 : null;
  stopped = true;
  for (const s of sockets) {
    s.on('error', () => {});
    s.destroy();
  }
  const mib = moved / (1024 * 1024);
  return {
    bytes: moved,
    seconds,
    mibPerSec: mib / seconds,
    cpuUsPerMiB: cpu === null || mib === 0 ? null : cpu / mib,
  };
}

const held: TLSSocket[] = [];

async function idleOpen(c: IdleOpenCommand): Promise<{ opened: number; errors: number; firstError: string | null }> {
  let next = 0;
  let errors = 0;
  let firstError: string | null = null;
  const slot = async () => {
    while (next < c.count) {
      next++;
      try {
        await oneConnection(c.port, c.servername, held, c.bulkBytes);
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, slot));
  return { opened: held.length, errors, firstError };
}

async function idleClose(): Promise<{ closed: number }> {
  const n = held.length;
  await Promise.all(
    held.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.once('close', () => resolve());
          s.on('error', () => {});
          s.end();
          setTimeout(() => s.destroy(), 2000).unref();
        }),
    ),
  );
  return { closed: n };
}

async function execute(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case 'conns':
      return conns(c);
    case 'bulk':
      return bulk(c);
    case 'idle-open':
      return idleOpen(c);
    case 'idle-close':
      return idleClose();
  }
}

process.on('message', (m: { id: number; command: Command }) => {
  execute(m.command).then(
    (result) => process.send?.({ id: m.id, result }),
    (err: unknown) => process.send?.({ id: m.id, error: (err as Error).stack ?? String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
