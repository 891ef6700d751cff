import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BIG_READ, freeBigBuffers, SMALL_READ, UpstreamReads } from './upstream-reads.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

function listen(onConnection: (s: Socket) => void): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    onConnection(s);
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** An upstream socket read through `reads`, and a client-side pair: `sink` (proxy side) → `reader` (the client). */
async function harness(upstream: (s: Socket) => void) {
  const upPort = await listen(upstream);
  const reads = new UpstreamReads();
  const up = connect({ host: '127.0.0.1', port: upPort, allowHalfOpen: true, onread: reads.onread });
  reads.bind(up);
  sockets.push(up);
  let sink!: Socket;
  const accepted = new Promise<void>((resolve) => {
    void listen((s) => {
      sink = s;
      resolve();
    }).then((port) => sockets.push((reader = connect({ host: '127.0.0.1', port, allowHalfOpen: true }))));
  });
  let reader!: Socket;
  await Promise.all([accepted, new Promise((r) => up.once('connect', r))]);
  return { reads, up, sink, reader };
}

/** Everything the reader receives until the end of stream, consumed slowly (one chunk per turn). */
function drainSlowly(reader: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    reader.on('data', (d: Buffer) => {
      chunks.push(d);
      reader.pause();
      setImmediate(() => reader.resume());
    });
    reader.once('end', () => resolve(Buffer.concat(chunks)));
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('UpstreamReads', () => {
  it('forwards a stream of small and large writes byte for byte through a slow client, then its end', async () => {
    const parts: Buffer[] = [];
    let total = 0;
    while (total < 6 * 1024 * 1024) {
      // Sizes on both sides of the small/big switch so reads move between the two buffers.
      const size = [1, 100, SMALL_READ - 1, SMALL_READ, 3 * BIG_READ + 7, 200_000][parts.length % 6]!;
      parts.push(randomBytes(size));
      total += size;
    }
    const sent = Buffer.concat(parts);
    const { reads, up, sink, reader } = await harness((s) => {
      s.once('data', () => {
        let i = 0;
        const pump = () => {
          while (i < parts.length) if (!s.write(parts[i++]!)) return void s.once('drain', pump);
          s.end();
        };
        pump();
      });
    });
    const received = drainSlowly(reader);
    reads.attach(sink);
    up.write('go');
    const got = await received;
    expect(got.length).toBe(sent.length);
    expect(sha(got)).toBe(sha(sent));
  });

  it('holds what arrives before the client is attached and hands the next chunk to the setup step', async () => {
    let upstreamDone!: () => void;
    const flushed = new Promise<void>((r) => (upstreamDone = r));
    const { reads, up, sink, reader } = await harness((s) => {
      s.write('S');
      s.once('data', (d: Buffer) => {
        expect(d.toString()).toBe('hello');
        s.end('after the hello', upstreamDone);
      });
    });
    const first = await new Promise<Buffer>((resolve) => reads.nextChunk(resolve));
    expect(first.toString()).toBe('S');
    up.write('hello');
    const received = drainSlowly(reader);
    await flushed; // the reply and the FIN are on their way before the client is attached
    reads.attach(sink);
    expect((await received).toString()).toBe('after the hello');
  });

  it('forwards an end of stream that was read before the client was attached', async () => {
    const { reads, up, sink, reader } = await harness((s) => s.end());
    await new Promise((r) => up.once('end', r));
    const received = drainSlowly(reader);
    reads.attach(sink);
    expect((await received).length).toBe(0);
  });

  it('returns the big buffer it used once the stream is done (no buffer per idle connection)', async () => {
    const before = freeBigBuffers();
    const { reads, up, sink, reader } = await harness((s) => {
      s.once('data', () => s.end(randomBytes(2 * BIG_READ)));
    });
    const received = drainSlowly(reader);
    reads.attach(sink);
    up.write('go');
    expect((await received).length).toBe(2 * BIG_READ);
    up.end();
    if (!up.closed) await new Promise((r) => up.once('close', r));
    // One big buffer was taken (or allocated) for the 128 KiB and is back on the free list.
    expect(freeBigBuffers()).toBe(Math.max(before, 1));
  });
});
