import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pipeBoth, type PipeEnd } from './pipe.js';
import { BIG_READ, freeBigBuffers, SMALL_READ, UPSTREAM_ONREAD, UpstreamReads } from './upstream-reads.js';

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

/** A socket to `port` as the proxy dials it: with reusable read buffers or plain `data` events. */
function dial(port: number, reads: UpstreamReads | null): Socket {
  const up = connect({ host: '127.0.0.1', port, allowHalfOpen: true, ...(reads ? { onread: UPSTREAM_ONREAD } : {}) });
  reads?.bind(up);
  sockets.push(up);
  return up;
}

/** client → proxy (pipeBoth) → upstream. Resolves with the test client and how the pipe ended. */
async function throughProxy(upstream: (s: Socket) => void, withReads: boolean) {
  const upPort = await listen(upstream);
  let done!: (e: PipeEnd) => void;
  const ended = new Promise<PipeEnd>((r) => (done = r));
  const proxyPort = await listen((client) => {
    client.pause();
    const reads = withReads ? new UpstreamReads() : null;
    const up = dial(upPort, reads);
    up.once('connect', () => pipeBoth(client, up, done, { reads: reads ?? undefined }));
  });
  const client = connect({ host: '127.0.0.1', port: proxyPort, allowHalfOpen: true });
  sockets.push(client);
  return { client, ended };
}

/** Everything a socket receives until its end of stream, consumed slowly (one chunk per turn). */
function readSlowly(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      s.pause();
      setImmediate(() => s.resume());
    });
    s.once('end', () => resolve(Buffer.concat(chunks)));
  });
}

function writeAll(s: Socket, parts: Buffer[]): void {
  let i = 0;
  const pump = () => {
    while (i < parts.length) if (!s.write(parts[i++]!)) return void s.once('drain', pump);
    s.end();
  };
  pump();
}

/** Sizes on both sides of the small/big read switch, so reads move between the two buffers. */
function mixedParts(total: number): Buffer[] {
  const sizes = [1, 100, SMALL_READ - 1, SMALL_READ, 3 * BIG_READ + 7, 200_000];
  const parts: Buffer[] = [];
  for (let n = 0; n < total; ) {
    const b = randomBytes(sizes[parts.length % sizes.length]!);
    parts.push(b);
    n += b.length;
  }
  return parts;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each([
  ['reusable upstream read buffers (passthrough)', true],
  ['data events (terminate)', false],
])('pipeBoth with %s', (_name, withReads) => {
  it('copies both directions byte for byte under backpressure, forwards each FIN, and reports the first end', async () => {
    const down = mixedParts(6 * 1024 * 1024);
    const up = mixedParts(2 * 1024 * 1024);
    let upstreamGot!: Promise<Buffer>;
    const { client, ended } = await throughProxy((s) => {
      upstreamGot = readSlowly(s);
      writeAll(s, down);
    }, withReads);
    const clientGot = readSlowly(client);
    writeAll(client, up);
    expect(sha(await clientGot)).toBe(sha(Buffer.concat(down)));
    expect(sha(await upstreamGot)).toBe(sha(Buffer.concat(up)));
    client.end();
    expect(['client_closed', 'upstream_closed']).toContain(await ended);
  });

  it('keeps the response flowing after the client half-closes, then closes both sides', async () => {
    const { client, ended } = await throughProxy((s) => {
      s.once('end', () => s.end('bye after your FIN'));
      s.resume();
    }, withReads);
    const got = readSlowly(client);
    client.end('request');
    expect((await got).toString()).toBe('bye after your FIN');
    expect(await ended).toBe('client_closed');
  });

  it('reports an upstream that resets the connection and ends the client', async () => {
    const { client, ended } = await throughProxy((s) => s.once('data', () => s.resetAndDestroy()), withReads);
    // The client reads the proxy's FIN (or a reset) for its side.
    const gone = new Promise((r) => {
      client.once('end', r);
      client.once('error', r);
    });
    client.resume();
    client.write('reset me');
    expect(await ended).toBe('upstream_error');
    await gone;
  });
});

describe('UpstreamReads', () => {
  it('hands the setup step the next chunk, holds what follows, and forwards an early FIN once piped', async () => {
    let upstreamDone!: () => void;
    const flushed = new Promise<void>((r) => (upstreamDone = r));
    const upPort = await listen((s) => {
      s.write('S');
      s.once('data', (d: Buffer) => {
        expect(d.toString()).toBe('hello');
        s.end('after the hello', upstreamDone);
      });
    });
    const reads = new UpstreamReads();
    const up = dial(upPort, reads);
    const first = await new Promise<Buffer>((resolve) => reads.nextChunk(resolve));
    expect(first.toString()).toBe('S');
    up.write('hello');
    await flushed; // the reply and the FIN are on their way before the client side exists
    let sink!: Socket;
    const proxyPort = await listen((s) => {
      sink = s;
      pipeBoth(sink, up, () => {}, { reads });
    });
    const client = connect({ host: '127.0.0.1', port: proxyPort, allowHalfOpen: true });
    sockets.push(client);
    expect((await readSlowly(client)).toString()).toBe('after the hello');
  });

  it('returns the big buffer it used once the stream is done (an idle connection owns none)', async () => {
    const before = freeBigBuffers();
    const { client, ended } = await throughProxy((s) => s.once('data', () => s.end(randomBytes(2 * BIG_READ))), true);
    const got = readSlowly(client);
    client.write('go');
    expect((await got).length).toBe(2 * BIG_READ);
    client.end();
    await ended;
    // One big buffer was taken (or allocated) for the 128 KiB and is back on the free list.
    expect(freeBigBuffers()).toBe(Math.max(before, 1));
  });
});
