/**
 * Raw byte conversations with the proxy for hostile-input tests, and a reader for its
 * Prometheus counters (the proof of why a connection ended).
 */
import { connect, type Socket } from 'node:net';
import { parseBackendMessage, parseErrorFields } from '@switchyard/wire';

/** A TCP client that records everything it receives and when the peer closed. */
export class RawClient {
  readonly socket: Socket;
  private received = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  /** Resolves with every byte received once the connection is fully closed. */
  readonly closed: Promise<Buffer>;
  /** True when the proxy ended the connection (we never ended or destroyed it first). */
  closedByPeer = false;
  private selfClosed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => {
      this.received = Buffer.concat([this.received, c]);
      this.wake();
    });
    socket.on('error', () => {});
    // The proxy half-closed (FIN): it will send nothing more. Close our side too, as every
    // real client does, so 'close' follows.
    socket.on('end', () => {
      if (!this.selfClosed) this.closedByPeer = true;
      socket.end();
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        if (!this.selfClosed) this.closedByPeer = true;
        this.wake();
        resolve(this.received);
      }),
    );
  }

  static open(port: number, localAddress?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true, localAddress });
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(bytes: Uint8Array | string): this {
    this.socket.write(bytes);
    return this;
  }

  /** Half-closes our side (FIN): we send nothing more but still read. */
  finish(): this {
    this.socket.end();
    return this;
  }

  destroy(): void {
    this.selfClosed = true;
    this.socket.destroy();
  }

  get bytes(): Buffer {
    return this.received;
  }

  /** Waits until at least `n` bytes arrived (or the connection closed) and returns what arrived. */
  async read(n: number): Promise<Buffer> {
    while (this.received.length < n && !this.socket.destroyed && !this.socket.readableEnded) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    return this.received.subarray(0, n);
  }
}

/** The fields of the first ErrorResponse in `bytes` (throws when there is none). */
export function errorResponse(bytes: Buffer): Record<string, string> {
  const r = parseBackendMessage(bytes);
  if (r.status !== 'ok' || r.value.type !== 'E') throw new Error(`expected an ErrorResponse, got ${bytes.toString('hex')}`);
  return parseErrorFields(r.value.body);
}

/** TLS alert record: fatal level, the given description. */
export function tlsAlert(description: number): Buffer {
  return Buffer.from([21, 3, 3, 0, 2, 2, description]);
}

/** Counter and gauge values from the proxy's /metrics, keyed by name and labels. */
export class Metrics {
  constructor(private readonly text: string) {}

  static async fetch(adminPort: number): Promise<Metrics> {
    const r = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
    return new Metrics(await r.text());
  }

  /** Sum of a metric over the series whose labels include `labels`. */
  value(name: string, labels: Record<string, string> = {}): number {
    let sum = 0;
    for (const line of this.text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
    }
    return sum;
  }

  /** Finished connections by listener and reason (`switchyard_proxy_connections_total`). */
  closed(listener: string, reason: string): number {
    return this.value('switchyard_proxy_connections_total', { listener, reason });
  }
}
