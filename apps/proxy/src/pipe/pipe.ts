/**
 * Copies bytes both ways between two established sockets until both are closed, and says
 * which side ended first. Half-close aware: a FIN from one side is forwarded as a FIN
 * (both sockets are created with allowHalfOpen), so responses still in flight arrive.
 * No idle timeout: long queries and idle database sessions are never cut by the proxy;
 * TCP keepalive finds peers that vanished behind a NAT.
 *
 * How it ended is reported truthfully, because admins read it (docs/audit.md "Close reasons"):
 * - a FIN is that side closing;
 * - a TCP reset (ECONNRESET, or EPIPE writing to a socket the peer reset) is also that side
 *   closing, not an error: a TLS client that closes with the server's close_notify unread
 *   makes its kernel send a reset instead of a FIN (psql, pgbench -C: ~1 % of clean
 *   sessions), and a database that exits with the client's close_notify unread does the same;
 * - `client_error` / `upstream_error` only for a failure the proxy saw: a TLS or protocol
 *   error, a keepalive timeout, an unreachable network;
 * - `clientTerminate` (terminate-mode PostgreSQL, where the client's bytes are plaintext):
 *   a client whose last message was Terminate ended the session even when the database's
 *   FIN reaches the proxy before the client's own (the TLS layer delays the latter).
 *
 * `rewriter` (terminate-mode PostgreSQL): the server's startup messages pass through it until
 * its first ReadyForQuery, so the client receives the proxy-minted BackendKeyData; from then
 * on the upstream's bytes are forwarded directly like everything else.
 *
 * What `Readable.pipe` does (write, pause on backpressure, resume on `drain`, end on end),
 * with event handlers shared by every connection: each socket finds its pipe under a symbol,
 * so an idle connection holds one small object here instead of ~20 closures (memory per
 * idle connection is one of the benchmark's targets).
 */
import type { Socket } from 'node:net';
import type { BackendKeyRewriter } from '@switchyard/wire';
import { adoptReads, UpstreamReads } from './upstream-reads.js';

export type PipeEnd = 'client_closed' | 'upstream_closed' | 'client_error' | 'upstream_error';

/** TCP keepalive idle time of proxied sockets (both sides). */
export const KEEPALIVE_MS = 60_000;

const PIPE = Symbol('switchyard.pipe');
type Piped = Socket & { [PIPE]?: Pipe };

/** Socket errors that are a peer closing abruptly, not a failure (see the header). */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** PostgreSQL Terminate: 'X' then Int32 length 4 (protocol-message-formats.html). */
function endsWithTerminate(chunk: Buffer): boolean {
  const n = chunk.length;
  return n >= 5 && chunk[n - 5] === 0x58 && chunk[n - 4] === 0 && chunk[n - 3] === 0 && chunk[n - 2] === 0 && chunk[n - 1] === 4;
}

/** Told once, when both sockets closed, which side ended first. */
export interface PipeOwner {
  pipeDone(firstEnd: PipeEnd): void;
}

class Pipe {
  first: PipeEnd | null = null;
  closed = 0;
  /** The client's last chunk ended with a PostgreSQL Terminate (clientTerminate only). */
  clientSaidBye = false;
  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    readonly owner: PipeOwner | ((firstEnd: PipeEnd) => void),
    readonly reads: UpstreamReads | undefined,
    readonly clientReads: UpstreamReads | undefined,
    public rewriter: BackendKeyRewriter | undefined,
    readonly watchTerminate: boolean,
  ) {}

  peer(s: Socket): Socket {
    return s === this.client ? this.upstream : this.client;
  }
}

function onData(this: Piped, chunk: Buffer): void {
  const p = this[PIPE]!;
  const peer = p.peer(this);
  // A peer that is gone or ended takes no more bytes; the close handlers finish the rest.
  if (peer.destroyed || peer.writableEnded) return;
  if (p.rewriter && this === p.upstream) return rewriteStartup(p, chunk);
  if (p.watchTerminate && this === p.client) p.clientSaidBye = endsWithTerminate(chunk);
  if (!peer.write(chunk)) this.pause();
}

/** Terminate-mode PostgreSQL startup: BackendKeyData swapped for the proxy's key. */
function rewriteStartup(p: Pipe, chunk: Buffer): void {
  const r = p.rewriter!.feed(chunk);
  if (r.status === 'error') {
    p.upstream.destroy(new Error(r.message));
    return;
  }
  if (r.done) p.rewriter = undefined;
  let flushed = true;
  for (const b of r.out) if (b.length > 0) flushed = p.client.write(b) && flushed;
  if (!flushed) p.upstream.pause();
}

/** The peer flushed what it had queued: read again (upstream reads resume their socket). */
function onDrain(this: Piped): void {
  const peer = this[PIPE]!.peer(this);
  if (!peer.destroyed) peer.resume();
}

function onEnd(this: Piped): void {
  const p = this[PIPE]!;
  p.first ??= this === p.client || p.clientSaidBye ? 'client_closed' : 'upstream_closed';
  const peer = p.peer(this);
  if (!peer.destroyed && !peer.writableEnded) peer.end();
}

function onError(this: Piped, err: NodeJS.ErrnoException): void {
  const p = this[PIPE]!;
  const client = this === p.client;
  if (err.code !== undefined && RESET_CODES.has(err.code)) p.first ??= client || p.clientSaidBye ? 'client_closed' : 'upstream_closed';
  else p.first ??= client ? 'client_error' : 'upstream_error';
  p.peer(this).destroy();
}

/** A peer that closed without a FIN (reset, destroy): do not leave the other side hanging. */
function onClose(this: Piped): void {
  const p = this[PIPE]!;
  const peer = p.peer(this);
  if (!peer.destroyed && !peer.writableEnded) peer.end();
  if (this === p.upstream) p.reads?.release();
  else p.clientReads?.release();
  if (++p.closed === 2) {
    const owner = p.owner;
    if (typeof owner === 'function') owner(p.first ?? 'client_closed');
    else owner.pipeDone(p.first ?? 'client_closed');
  }
}

export interface PipeOptions {
  /**
   * The upstream was dialled with reusable read buffers (passthrough); the client socket is
   * then switched to them too (`adoptReads`), so both directions read without allocating.
   */
  reads?: UpstreamReads;
  /** Terminate-mode PostgreSQL: rewrite BackendKeyData until the first ReadyForQuery. */
  rewriter?: BackendKeyRewriter;
  /** The client's bytes are plaintext PostgreSQL messages: notice its Terminate (see the header). */
  clientTerminate?: boolean;
  /** The client socket has keepalive already (inherited from the listener; listener.ts). */
  clientKeepAlive?: boolean;
}

/**
 * `done`: a function, or an object whose `pipeDone` method is called (connection.ts: no
 * closure for an idle session to hold).
 */
export function pipeBoth(client: Socket, upstream: Socket, done: PipeOwner | ((firstEnd: PipeEnd) => void), opts: PipeOptions = {}): void {
  if (!opts.clientKeepAlive) client.setKeepAlive(true, KEEPALIVE_MS);
  upstream.setKeepAlive(true, KEEPALIVE_MS);
  const { reads } = opts;
  // Passthrough: the client's reads too (the upload direction); its 'data' events otherwise.
  let clientReads: UpstreamReads | undefined = reads ? new UpstreamReads() : undefined;
  if (clientReads && !adoptReads(client, clientReads)) clientReads = undefined;
  const p = new Pipe(client, upstream, done, reads, clientReads, opts.rewriter && !opts.rewriter.done ? opts.rewriter : undefined, opts.clientTerminate === true);
  (client as Piped)[PIPE] = p;
  (upstream as Piped)[PIPE] = p;
  // `on`, not `once`, for end and close: each is emitted at most once, and `once` would keep
  // a wrapper object and a bound function per socket for the session's life.
  for (const s of [client, upstream]) {
    s.on('end', onEnd);
    s.on('error', onError);
    s.on('close', onClose);
    s.on('drain', onDrain);
  }
  if (clientReads) {
    // Bytes the client sent after its hello, read while the upstream was dialled, wait in
    // the socket's Readable buffer: they go first.
    if (client.readableLength > 0) {
      const early = client.read() as Buffer | null;
      if (early) upstream.write(early);
    }
    clientReads.attach(upstream);
  } else {
    client.on('data', onData);
  }
  if (reads) reads.attach(client);
  else upstream.on('data', onData);
  // Paused while routing; a FIN read before now was not emitted yet, or is forwarded here.
  for (const s of [client, upstream]) {
    if (s.readableEnded) onEnd.call(s);
    else s.resume();
  }
}
