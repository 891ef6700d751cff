/**
 * Reads of a passthrough connection's sockets without an allocation per read, in both
 * directions: the upstream's (query results, downloads) and the client's (COPY FROM,
 * restores, bulk inserts). Node's default read path allocates a fresh 64 KiB buffer for
 * every read and pushes it through the Readable machinery; at hundreds of MiB/s that churn of
 * external memory makes V8 collect all the time, and the fresh pages fault in the kernel
 * (issue 13: the upload direction cost 3–4× the CPU per MiB of the download direction).
 * With `net.connect({ onread })` the socket reads into a buffer we hand it instead; a socket
 * a server accepted gets the same through `adoptReads` (below):
 *
 *  - small reads (an idle session's chatter, a handshake flight) land in ONE buffer shared by
 *    every upstream socket and are copied out, so an idle connection owns no read buffer;
 *  - once a read fills `SMALL_READ` bytes the socket gets a 64 KiB buffer of its own (from a
 *    small free list) and its reads are written to the client straight from it. When the
 *    client's kernel buffer is full the write stays pending and references that buffer: if
 *    the client is over its high-water mark the socket stops reading until the client's
 *    `drain` (pipe.ts resumes it; the buffer is free again by then), otherwise the socket
 *    moves on to another buffer and the pending one is left to the GC;
 *  - a short read hands the big buffer back and the socket returns to the shared one;
 *  - a socket that stops reading after a full read (a bulk transfer, then an idle session)
 *    would keep its big buffer until its next read, possibly hours later: one sweep timer for
 *    the whole process (`IDLE_SWEEP_MS`, running only while some socket holds a big buffer)
 *    moves a socket that has not read during a whole sweep interval back to the shared buffer
 *    and puts its big one on the free list (`park`). Not while a write to its peer is pending
 *    (backpressure is not idleness). Switching the buffer of a socket between reads is
 *    `useUserBuffer`, which stacks a small native read listener (~48 bytes, freed with the
 *    socket) each time; a socket parks at most `MAX_PARKS` times, then keeps its buffer as
 *    before, so a session alternating bulk and idle forever cannot grow without bound.
 *
 * Node keeps a raw pointer to the buffer a socket reads into until its next read, so a
 * buffer is only ever shared while no write can reference it: the shared one is always
 * copied from, and a big one belongs to exactly one socket at a time.
 *
 * Per connection this is one small object: the `onread` functions are shared by all sockets
 * (the socket finds its state under a symbol), so an idle connection holds no closures here.
 */
import { Socket, type SocketConstructorOpts } from 'node:net';

/** Reads shorter than this are copied out of the shared buffer. */
export const SMALL_READ = 4 * 1024;
/** Per-socket buffer of a busy stream: libuv's usual read size. */
export const BIG_READ = 64 * 1024;
/** Big buffers kept for reuse once their socket went quiet or closed. */
const FREE_MAX = 32;
/** A socket holding a big buffer that did not read for a whole interval gives it back. */
export const IDLE_SWEEP_MS = 1000;
/** Parks per socket (each stacks a ~48-byte native listener; see the header): ≤ 6 KiB. */
export const MAX_PARKS = 128;

const shared = Buffer.allocUnsafeSlow(SMALL_READ);
const free: Buffer[] = [];

function takeBig(): Buffer {
  return free.pop() ?? Buffer.allocUnsafeSlow(BIG_READ);
}

function giveBack(buf: Buffer): void {
  if (free.length < FREE_MAX) free.push(buf);
}

/** Big buffers currently on the free list (tests). */
export function freeBigBuffers(): number {
  return free.length;
}

/** Reads whose socket holds a big buffer: what the sweep looks at. */
const holders = new Set<UpstreamReads>();
let sweeper: NodeJS.Timeout | null = null;

function held(reads: UpstreamReads): void {
  holders.add(reads);
  if (sweeper === null) sweeper = setInterval(sweepIdleReads, IDLE_SWEEP_MS).unref();
}

/**
 * One sweep (the timer's; tests call it directly): a holder that read since the previous
 * sweep is marked and kept, one that did not is parked.
 */
export function sweepIdleReads(): void {
  for (const reads of holders) {
    if (reads.readSinceSweep) reads.readSinceSweep = false;
    else reads.park();
  }
  if (holders.size === 0 && sweeper !== null) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

const READS = Symbol('switchyard.upstreamReads');
type ReadingSocket = Socket & { [READS]?: UpstreamReads };

/**
 * Node calls the `onread` callback as a method of the socket and, right after it, the buffer
 * function without one; the callback leaves the socket's next buffer here for it. Set as the
 * callback's last step, so a callback that threw hands out the shared buffer.
 */
let handoff: Buffer = shared;

function nextBuffer(): Buffer {
  const b = handoff;
  handoff = shared;
  return b;
}

/** The first `n` bytes of `buf`, copied (from Node's buffer pool; no intermediate view). */
function copyOf(buf: Buffer, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  buf.copy(out, 0, 0, n);
  return out;
}

function onUpstreamRead(this: ReadingSocket, n: number, buf: Buffer): boolean {
  const reads = this[READS]!;
  const more = reads.read(n, buf);
  handoff = reads.buffer;
  return more;
}

/** `net.connect({ onread: UPSTREAM_ONREAD })`, then `reads.bind(socket)` before it connects. */
export const UPSTREAM_ONREAD = { buffer: nextBuffer, callback: onUpstreamRead } as const;

/**
 * Where `onread` keeps its state on a socket (lib/net.js: `kBuffer`, `kBufferCb`,
 * `kBufferGen`, symbols internal to Node), found by name on a socket made with `onread`.
 * `net.Server` has no `onread` option for the sockets it accepts, so `adoptReads` sets the
 * same three properties and tells the handle to read into our buffer (`useUserBuffer`, what
 * the Socket constructor does for `onread`). Null when a Node version names them otherwise:
 * accepted sockets then keep the default read path (slower, still correct).
 */
const ONREAD_KEYS = (() => {
  // The constructor takes `onread` (net.connect passes its options through); @types/node
  // lists it only for connect.
  const probe = new Socket({ onread: UPSTREAM_ONREAD } as SocketConstructorOpts);
  const byName = new Map(Object.getOwnPropertySymbols(probe).map((sym) => [sym.description, sym]));
  const buffer = byName.get('kBuffer');
  const callback = byName.get('kBufferCb');
  const gen = byName.get('kBufferGen');
  return buffer && callback && gen ? { buffer, callback, gen } : null;
})();

type Adoptable = Socket & { _handle?: { useUserBuffer?: (buf: Uint8Array) => void } | null; encrypted?: boolean } & Record<symbol, unknown>;

/**
 * Switches a plain TCP socket that a server accepted to `reads` (as if it had been created
 * with `onread: UPSTREAM_ONREAD`). Call it between reads (any synchronous JS is), at most
 * once per socket, with the socket paused; bytes it read before stay in its Readable buffer
 * (`socket.read()`). False when not possible (TLS socket, no handle, unknown Node internals).
 */
export function adoptReads(socket: Socket, reads: UpstreamReads): boolean {
  const s = socket as Adoptable;
  const handle = s._handle;
  if (ONREAD_KEYS === null || s.encrypted || !handle || typeof handle.useUserBuffer !== 'function' || s[ONREAD_KEYS.buffer]) return false;
  reads.bind(socket);
  s[ONREAD_KEYS.callback] = onUpstreamRead;
  s[ONREAD_KEYS.gen] = nextBuffer;
  s[ONREAD_KEYS.buffer] = reads.buffer;
  handle.useUserBuffer(reads.buffer);
  return true;
}

/**
 * Points a socket reading through `onread` at another buffer between two reads (what the
 * `onread` return value does at a read; `park` needs it without one). False when not possible.
 */
function switchReadBuffer(socket: Socket, buf: Buffer): boolean {
  const s = socket as Adoptable;
  const handle = s._handle;
  if (ONREAD_KEYS === null || s.destroyed || !handle || typeof handle.useUserBuffer !== 'function' || s[ONREAD_KEYS.buffer] === undefined) return false;
  s[ONREAD_KEYS.buffer] = buf;
  handle.useUserBuffer(buf);
  return true;
}

export class UpstreamReads {
  private socket: ReadingSocket | null = null;
  /** What the socket reads into next: `shared` or a big buffer it owns. */
  buffer: Buffer = shared;
  private sink: Socket | null = null;
  /** Bytes read before the client side was attached (copies). */
  private held: Buffer[] | null = null;
  /** Setup phase: the next chunk goes here instead of `held` (dial's SSLRequest reply). */
  private waiter: ((chunk: Buffer) => void) | null = null;
  /** Set by every read, cleared by the sweep: a holder that stays clear is idle. */
  readSinceSweep = false;
  /** Times `park` switched this socket back to the shared buffer (≤ MAX_PARKS). */
  parks = 0;

  /** The socket these reads belong to (a fail-over dial starts over with a new one). */
  bind(socket: Socket): void {
    this.socket = socket;
    (socket as ReadingSocket)[READS] = this;
    this.held = null;
    this.waiter = null;
  }

  /** Setup phase: the next chunk the upstream sends, instead of a `data` event. */
  nextChunk(cb: (chunk: Buffer) => void): void {
    const first = this.held?.shift();
    if (first) return cb(first);
    this.waiter = cb;
    this.socket?.resume();
  }

  /**
   * Starts forwarding to the client: first what arrived before, then every read. Resuming
   * the socket, ending the client and backpressure (`drain`) are pipe.ts's.
   */
  attach(sink: Socket): void {
    this.sink = sink;
    const held = this.held;
    this.held = null;
    if (held) for (const chunk of held) sink.write(chunk);
  }

  /** The socket closed: it will never read into its buffer again. */
  release(): void {
    const buf = this.buffer;
    this.buffer = shared;
    holders.delete(this);
    // A write still pending may reference it: then the GC frees it after the write.
    if (buf !== shared && (this.sink === null || this.sink.writableLength === 0)) giveBack(buf);
  }

  /**
   * The sweep found the socket idle with a big buffer: read into the shared one again and
   * put the big one on the free list. Kept while its bytes are still being written to the
   * peer (backpressure, not idleness); given up after MAX_PARKS (see the header).
   */
  park(): void {
    const buf = this.buffer;
    if (buf === shared) return void holders.delete(this);
    if (this.sink !== null && this.sink.writableLength > 0) return;
    holders.delete(this);
    if (this.parks >= MAX_PARKS || this.socket === null || !switchReadBuffer(this.socket, shared)) return;
    this.parks++;
    this.buffer = shared;
    giveBack(buf);
  }

  /** One read of `n` bytes into `buf`; false stops reading until the socket is resumed. */
  read(n: number, buf: Buffer): boolean {
    const sink = this.sink;
    if (sink === null) {
      // Before the pipe: keep a copy and stop reading until someone wants it.
      const chunk = copyOf(buf, n);
      const waiter = this.waiter;
      this.waiter = null;
      if (waiter) waiter(chunk);
      else (this.held ??= []).push(chunk);
      return false;
    }
    if (sink.destroyed || sink.writableEnded) return false; // pipe.ts ends this side
    this.readSinceSweep = true;
    let ok: boolean;
    let pending = false;
    if (buf === shared) {
      ok = sink.write(copyOf(buf, n));
    } else {
      ok = sink.write(buf.subarray(0, n));
      pending = sink.writableLength > 0;
    }
    // Size the next read after this one: a full small read means a stream is flowing.
    if (n >= SMALL_READ) {
      if (this.buffer === shared) {
        this.buffer = takeBig();
        held(this);
      }
      // Below the high-water mark the socket keeps reading, so it needs another buffer.
      else if (pending && ok) this.buffer = takeBig();
    } else if (this.buffer !== shared) {
      if (!pending) giveBack(this.buffer);
      this.buffer = shared;
      holders.delete(this);
    }
    return ok;
  }
}
