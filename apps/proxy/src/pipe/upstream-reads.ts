/**
 * Reads of a passthrough upstream socket without an allocation per read (the bulk direction:
 * query results, downloads). Node's default read path allocates a fresh 64 KiB buffer for
 * every read; at hundreds of MiB/s that churn of external memory makes V8 run major GCs over
 * the whole heap (the route table is most of it), and the fresh pages fault in the kernel.
 * With `net.connect({ onread })` the socket reads into a buffer we hand it instead:
 *
 *  - small reads (an idle session's chatter, a handshake flight) land in ONE buffer shared by
 *    every upstream socket and are copied out, so an idle connection owns no read buffer;
 *  - once a read fills `SMALL_READ` bytes the socket gets a 64 KiB buffer of its own (from a
 *    small free list) and its reads are written to the client straight from it. When the
 *    client's kernel buffer is full the write stays pending and references that buffer, so
 *    the socket stops reading until the write completes (this is also the backpressure);
 *  - a short read hands the big buffer back and the socket returns to the shared one.
 *
 * Node keeps a raw pointer to the buffer a socket reads into until its next read, so a
 * buffer is only ever shared while no write can reference it: the shared one is always
 * copied from, and a big one belongs to exactly one socket at a time.
 */
import type { Socket } from 'node:net';

/** Reads shorter than this are copied out of the shared buffer. */
export const SMALL_READ = 4 * 1024;
/** Per-socket buffer of a busy stream: libuv's usual read size. */
export const BIG_READ = 64 * 1024;
/** Big buffers kept for reuse once their socket went quiet or closed. */
const FREE_MAX = 32;

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

export class UpstreamReads {
  private socket: Socket | null = null;
  /** What the socket reads into next: `shared` or a big buffer it owns. */
  private buffer: Buffer = shared;
  /** A big buffer that a pending write to the client still references. */
  private lent: Buffer | null = null;
  private sink: Socket | null = null;
  /** Bytes read before the client side was attached (copies). */
  private held: Buffer[] = [];
  /** Setup phase: the next chunk goes here instead of `held` (dial's SSLRequest reply). */
  private waiter: ((chunk: Buffer) => void) | null = null;
  private paused = false;

  /** `net.connect({ onread })` for the upstream socket. */
  readonly onread = {
    buffer: (): Buffer => this.buffer,
    callback: (n: number, buf: Buffer): boolean => this.onRead(n, buf),
  };

  /** The socket these reads belong to (a fail-over dial starts over with a new one). */
  bind(socket: Socket): void {
    this.socket = socket;
    this.held = [];
    this.waiter = null;
    this.paused = false;
  }

  /** Setup phase: the next chunk the upstream sends, instead of a `data` event. */
  nextChunk(cb: (chunk: Buffer) => void): void {
    const first = this.held.shift();
    if (first) return cb(first);
    this.waiter = cb;
    this.resume();
  }

  /**
   * Starts forwarding to the client: first what arrived before, then every read. The end
   * of the upstream's stream is forwarded as `client.end()`, as `Readable.pipe` does.
   */
  attach(sink: Socket): void {
    const socket = this.socket!;
    this.sink = sink;
    for (const chunk of this.held.splice(0)) sink.write(chunk);
    const forwardEnd = () => {
      if (!sink.destroyed && !sink.writableEnded) sink.end();
    };
    if (socket.readableEnded) forwardEnd();
    else socket.once('end', forwardEnd);
    socket.once('close', () => {
      // Closed: it will never read into its buffer again.
      if (this.buffer !== shared && this.buffer !== this.lent) giveBack(this.buffer);
      this.buffer = shared;
    });
    if (sink.writableLength > 0) {
      this.paused = true;
      sink.write(EMPTY, this.onWritten);
    } else {
      this.resume();
    }
  }

  private onRead(n: number, buf: Buffer): boolean {
    const sink = this.sink;
    if (sink === null) {
      // Before the pipe: keep a copy and stop reading until someone wants it.
      const chunk = Buffer.from(buf.subarray(0, n));
      const waiter = this.waiter;
      this.waiter = null;
      if (waiter) waiter(chunk);
      else this.held.push(chunk);
      this.paused = true;
      return false;
    }
    if (sink.destroyed || sink.writableEnded) {
      // The client is gone; pipe.ts ends or destroys this side.
      this.paused = true;
      return false;
    }
    if (buf === shared) {
      sink.write(Buffer.from(buf.subarray(0, n)), this.onWritten);
    } else {
      sink.write(buf.subarray(0, n), this.onBigWritten);
      if (sink.writableLength > 0) this.lent = buf;
    }
    // Size the next read after this one: a full small read means a stream is flowing.
    if (n >= SMALL_READ) {
      if (this.buffer === shared) this.buffer = takeBig();
    } else if (this.buffer !== shared) {
      if (this.buffer !== this.lent) giveBack(this.buffer);
      this.buffer = shared;
    }
    if (sink.writableLength > 0) {
      this.paused = true;
      return false;
    }
    return true;
  }

  private readonly onWritten = (err?: Error | null): void => {
    if (!err) this.resume();
  };

  private readonly onBigWritten = (err?: Error | null): void => {
    const lent = this.lent;
    this.lent = null;
    if (err) return; // never reuse memory a failed write might still touch; GC frees it
    if (lent !== null && lent !== this.buffer) giveBack(lent);
    this.resume();
  };

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const s = this.socket;
    if (s && !s.destroyed) s.resume();
  }
}

const EMPTY = Buffer.alloc(0);
