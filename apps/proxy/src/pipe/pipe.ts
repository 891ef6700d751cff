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
 * - terminate-mode PostgreSQL (`postgres`, where the client's bytes are plaintext): a client
 *   whose last message was Terminate ended the session even when the database's FIN reaches
 *   the proxy before the client's own (the TLS layer delays the latter).
 *
 * Terminate-mode PostgreSQL (`postgres`; passthrough and other engines never get here):
 * - `rewriter`: the server's startup messages pass through it until its first ReadyForQuery,
 *   so the client receives the proxy-minted BackendKeyData; from then on the upstream's bytes
 *   are forwarded as they come, unchanged.
 * - Both directions' message boundaries are tracked (`PgMessageBoundaries`: one step per
 *   message in a chunk, no copy, no allocation), so that `endPostgresSession` — the drain
 *   deadline — can stop the server's bytes between two messages, tell the client why in an
 *   ErrorResponse, close its TLS, and send the database a Terminate when the client's side is
 *   between two messages too. A boundary not reached within the caller's bound (a huge
 *   DataRow in flight, a client not reading) ends both sides bare, as before.
 *
 * What `Readable.pipe` does (write, pause on backpressure, resume on `drain`, end on end),
 * with event handlers shared by every connection: each socket finds its pipe under a symbol,
 * so an idle connection holds one small object here instead of ~20 closures (memory per
 * idle connection is one of the benchmark's targets).
 */
import type { Socket } from 'node:net';
import { PgMessageBoundaries, type BackendKeyRewriter } from '@switchyard/wire';
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

/** PostgreSQL Terminate, sent to the database when the proxy ends a session (`sayGoodbye`). */
const PG_TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

/** Told once, when both sockets closed, which side ended first. */
export interface PipeOwner {
  pipeDone(firstEnd: PipeEnd): void;
}

/** `PgSession.ending`: forwarding; waiting for the server's next message boundary; ended by the proxy. */
const RUNNING = 0;
const AT_NEXT_BOUNDARY = 1;
const ENDED = 2;

/**
 * Terminate-mode PostgreSQL state of a pipe (`Pipe.pg`; undefined for every other pipe, so
 * passthrough carries one empty field and does no per-chunk work for any of this).
 */
class PgSession {
  /** The client's last chunk ended with a PostgreSQL Terminate. */
  clientSaidBye = false;
  /** What the client has been sent of the server's stream (the rewriter's output during startup). */
  readonly toClient = new PgMessageBoundaries();
  /** What the database has been sent of the client's stream (after its startup packet). */
  readonly toServer = new PgMessageBoundaries();
  ending: typeof RUNNING | typeof AT_NEXT_BOUNDARY | typeof ENDED = RUNNING;
  /** How the proxy ends the session (`endPostgresSession`, at the drain deadline). */
  end: PgEnd | null = null;
  /** While ending: the bound on the wait for a boundary, then the linger. */
  timer: NodeJS.Timeout | null = null;
  constructor(public rewriter: BackendKeyRewriter | undefined) {}
}

class Pipe {
  first: PipeEnd | null = null;
  closed = 0;
  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    readonly owner: PipeOwner | ((firstEnd: PipeEnd) => void),
    readonly reads: UpstreamReads | undefined,
    readonly clientReads: UpstreamReads | undefined,
    readonly pg: PgSession | undefined,
  ) {}

  peer(s: Socket): Socket {
    return s === this.client ? this.upstream : this.client;
  }
}

function onData(this: Piped, chunk: Buffer): void {
  const p = this[PIPE]!;
  if (p.pg !== undefined) return onPgData(p, p.pg, this, chunk);
  const peer = p.peer(this);
  // A peer that is gone or ended takes no more bytes; the close handlers finish the rest.
  if (peer.destroyed || peer.writableEnded) return;
  if (!peer.write(chunk)) this.pause();
}

/** Terminate-mode PostgreSQL: the same copy, with both streams' message boundaries tracked. */
function onPgData(p: Pipe, pg: PgSession, from: Socket, chunk: Buffer): void {
  if (from === p.upstream) {
    // Ended by the proxy: the database is still sending (a result set); it has its Terminate
    // (or was closed), so reading on is pointless.
    if (pg.ending === ENDED) {
      from.destroy();
      return;
    }
    if (p.client.destroyed || p.client.writableEnded) return;
    if (pg.ending === AT_NEXT_BOUNDARY) return serverUntilBoundary(p, pg, chunk);
    if (pg.rewriter) return rewriteStartup(p, pg, chunk);
    pg.toClient.feed(chunk);
    if (!p.client.write(chunk)) from.pause();
    return;
  }
  if (p.upstream.destroyed || p.upstream.writableEnded) return;
  pg.clientSaidBye = endsWithTerminate(chunk);
  pg.toServer.feed(chunk);
  if (!p.upstream.write(chunk)) from.pause();
}

/** Terminate-mode PostgreSQL startup: BackendKeyData swapped for the proxy's key. */
function rewriteStartup(p: Pipe, pg: PgSession, chunk: Buffer): void {
  const r = pg.rewriter!.feed(chunk);
  if (r.status === 'error') {
    p.upstream.destroy(new Error(r.message));
    return;
  }
  if (r.done) pg.rewriter = undefined;
  let flushed = true;
  for (const b of r.out) {
    if (b.length === 0) continue;
    pg.toClient.feed(b);
    flushed = p.client.write(b) && flushed;
  }
  if (!flushed) p.upstream.pause();
}

/** Ending (`endPostgresSession`): the server's bytes up to the end of its current message, then goodbye. */
function serverUntilBoundary(p: Pipe, pg: PgSession, chunk: Buffer): void {
  const at = pg.toClient.toBoundary(chunk);
  if (at < 0) {
    if (!p.client.write(chunk)) p.upstream.pause();
    return;
  }
  // The rest of the chunk (the next messages) is dropped: the session ends here.
  if (at > 0) p.client.write(chunk.subarray(0, at));
  sayGoodbye(p, pg);
}

/** The peer flushed what it had queued: read again (upstream reads resume their socket). */
function onDrain(this: Piped): void {
  const peer = this[PIPE]!.peer(this);
  if (!peer.destroyed) peer.resume();
}

function onEnd(this: Piped): void {
  const p = this[PIPE]!;
  p.first ??= this === p.client || p.pg?.clientSaidBye === true ? 'client_closed' : 'upstream_closed';
  const peer = p.peer(this);
  if (!peer.destroyed && !peer.writableEnded) peer.end();
}

function onError(this: Piped, err: NodeJS.ErrnoException): void {
  const p = this[PIPE]!;
  const client = this === p.client;
  if (err.code !== undefined && RESET_CODES.has(err.code)) p.first ??= client || p.pg?.clientSaidBye === true ? 'client_closed' : 'upstream_closed';
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
    if (p.pg?.timer) clearTimeout(p.pg.timer);
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
  /**
   * Terminate-mode PostgreSQL: both legs carry plaintext protocol messages from here on (see
   * the header). `rewriter` rewrites BackendKeyData until the first ReadyForQuery;
   * `clientForwarded` is what the client pipelined after its startup packet and was already
   * forwarded with it (where the client's stream stands).
   */
  postgres?: { rewriter?: BackendKeyRewriter; clientForwarded?: Buffer };
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
  let pg: PgSession | undefined;
  if (opts.postgres) {
    const { rewriter, clientForwarded } = opts.postgres;
    pg = new PgSession(rewriter && !rewriter.done ? rewriter : undefined);
    if (clientForwarded) pg.toServer.feed(clientForwarded);
  }
  const p = new Pipe(client, upstream, done, reads, clientReads, pg);
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

/** How `endPostgresSession` ends a session; built once per shutdown by the caller. */
export interface PgEnd {
  /** The ErrorResponse the client reads (FATAL 57P01 at shutdown). */
  goodbye: Buffer;
  /** How long the server's current message may take to end before giving up (ms). */
  boundaryWaitMs: number;
  /** How long the client has to read the goodbye and close before it is cut (ms). */
  lingerMs: number;
  /** Closes both sides bare (the caller's usual close): no boundary in time, or the linger is over. */
  giveUp(): void;
}

/**
 * Ends a terminate-mode PostgreSQL session in words the client can show: the server's bytes
 * stop at its next message boundary (at once when the stream is between two messages), the
 * client is sent `goodbye` and its TLS is closed, and the database gets a Terminate — or, when
 * the client's stream to it is in the middle of a message, is just closed. False when `client`
 * is not such a session's client (passthrough, other engines, not piped yet, already ending,
 * a stream that is not PostgreSQL): the caller closes it as it always did.
 */
export function endPostgresSession(client: Socket, end: PgEnd): boolean {
  const p = (client as Piped)[PIPE];
  const pg = p?.pg;
  if (!p || !pg || p.client !== client || pg.ending !== RUNNING) return false;
  if (client.destroyed || client.writableEnded || p.upstream.destroyed || pg.toClient.lost) return false;
  pg.end = end;
  if (pg.toClient.atBoundary) {
    sayGoodbye(p, pg);
  } else {
    pg.ending = AT_NEXT_BOUNDARY;
    pg.timer = setTimeout(onPgEndTimeout, end.boundaryWaitMs, p);
  }
  return true;
}

/** The boundary did not come in time, or the client did not close within the linger. */
function onPgEndTimeout(p: Pipe): void {
  p.pg!.timer = null;
  p.pg!.end!.giveUp();
}

/** At a boundary of the server's stream: the client's last message is ours; then both sides close. */
function sayGoodbye(p: Pipe, pg: PgSession): void {
  const end = pg.end!;
  pg.ending = ENDED;
  pg.rewriter = undefined;
  if (pg.timer) clearTimeout(pg.timer);
  const { client, upstream } = p;
  // The ErrorResponse, then TLS close_notify and FIN. A client that reads nothing until its
  // next command (psql at its prompt) finds it there; the socket is cut after the linger.
  client.end(end.goodbye);
  if (!upstream.destroyed && !upstream.writableEnded) {
    // A Terminate only between two of the client's messages: inside one it would be read as
    // that message's bytes.
    if (pg.toServer.atBoundary) upstream.end(PG_TERMINATE);
    else upstream.destroy();
  }
  // Whatever the database still sends is dropped (onPgData); a paused upstream must read on
  // to see its FIN.
  if (!upstream.destroyed) upstream.resume();
  pg.timer = setTimeout(onPgEndTimeout, end.lingerMs, p);
}
