import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildBackendMessage, buildErrorResponse, buildReadyForQuery } from '@switchyard/wire';
import { endPostgresSession, pipeBoth, type PipeEnd } from './pipe.js';
import { BIG_READ, freeBigBuffers, SMALL_READ, sweepIdleReads, UPSTREAM_ONREAD, UpstreamReads } from './upstream-reads.js';

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

/**
 * client → proxy (pipeBoth) → upstream. Resolves with the test client, how the pipe ended and
 * the upstream socket's reads (null without reusable buffers).
 */
async function throughProxy(upstream: (s: Socket) => void, withReads: boolean) {
  const upPort = await listen(upstream);
  let done!: (e: PipeEnd) => void;
  const ended = new Promise<PipeEnd>((r) => (done = r));
  let gotReads!: (r: UpstreamReads | null) => void;
  const upstreamReads = new Promise<UpstreamReads | null>((r) => (gotReads = r));
  const proxyPort = await listen((client) => {
    client.pause();
    const reads = withReads ? new UpstreamReads() : null;
    gotReads(reads);
    const up = dial(upPort, reads);
    up.once('connect', () => pipeBoth(client, up, done, { reads: reads ?? undefined }));
  });
  const client = connect({ host: '127.0.0.1', port: proxyPort, allowHalfOpen: true });
  sockets.push(client);
  return { client, ended, upstreamReads };
}

/** The next `n` bytes a socket receives. */
function receive(s: Socket, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  return new Promise((resolve) => {
    const onData = (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= n) {
        s.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    s.on('data', onData);
  });
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

  it('after the client\'s FIN, a large response and the upstream\'s FIN at once: every byte arrives, then the end', async () => {
    // The client's side ends only once everything queued for it is written: the response
    // still in flight must arrive before the FIN, never cut or reset.
    const down = mixedParts(3 * 1024 * 1024);
    const { client, ended } = await throughProxy((s) => {
      s.once('end', () => writeAll(s, down));
      s.resume();
    }, withReads);
    const got = readSlowly(client);
    client.end('request');
    expect(sha(await got)).toBe(sha(Buffer.concat(down)));
    expect(await ended).toBe('client_closed');
  });

  it('records an upstream that resets the connection as the upstream closing, and ends the client', async () => {
    // A reset is how a server that exits with unread bytes (the client's close_notify) closes.
    const { client, ended } = await throughProxy((s) => s.once('data', () => s.resetAndDestroy()), withReads);
    // The client reads the proxy's FIN (or a reset) for its side.
    const gone = new Promise((r) => {
      client.once('end', r);
      client.once('error', r);
    });
    client.resume();
    client.write('reset me');
    expect(await ended).toBe('upstream_closed');
    await gone;
  });

  /** A session whose first bytes reached the upstream: the pipe is in place. */
  async function established() {
    let arrived!: (s: Socket) => void;
    const upstreamSide = new Promise<Socket>((r) => (arrived = r));
    const { client, ended } = await throughProxy((s) => s.once('data', () => arrived(s)), withReads);
    client.write('hello');
    await upstreamSide;
    return { client, ended };
  }

  it('records a client that resets the connection as the client closing', async () => {
    const { client, ended } = await established();
    client.resetAndDestroy();
    expect(await ended).toBe('client_closed');
  });

  it('records a failure the proxy saw (a keepalive timeout) as an error of that side', async () => {
    const { client, ended } = await established();
    // The proxy's own client-side socket fails as when TCP keepalive gives up on a vanished peer.
    const proxySide = sockets.find((s) => s.remotePort === client.localPort && s.localPort === client.remotePort)!;
    proxySide.destroy(Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT' }));
    expect(await ended).toBe('client_error');
  });
});

describe('pipeBoth with postgres (terminate-mode PostgreSQL): the client\'s Terminate', () => {
  const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

  async function session(postgres: boolean) {
    const upPort = await listen((s) => s.once('data', (d: Buffer) => (d.subarray(-5).equals(TERMINATE) ? s.end() : s.resume())));
    let done!: (e: PipeEnd) => void;
    const ended = new Promise<PipeEnd>((r) => (done = r));
    const proxyPort = await listen((c) => {
      c.pause();
      const up = dial(upPort, null);
      // The database's FIN is forwarded before the client's own arrives (what the TLS layer does).
      up.once('connect', () => pipeBoth(c, up, done, postgres ? { postgres: {} } : {}));
    });
    const client = connect({ host: '127.0.0.1', port: proxyPort, allowHalfOpen: true });
    sockets.push(client);
    client.on('end', () => client.end());
    client.resume();
    client.write(Buffer.concat([Buffer.from('Q\0\0\0\x0dselect 1\0'), TERMINATE]));
    return ended;
  }

  it('a client whose last message was Terminate ended the session, though the database closed first', async () => {
    expect(await session(true)).toBe('client_closed');
  });

  it('without it, the database closing first is recorded as such', async () => {
    expect(await session(false)).toBe('upstream_closed');
  });
});

/** Everything a socket receives, and a wait for the first `n` bytes of it. */
function collect(s: Socket) {
  const chunks: Buffer[] = [];
  let total = 0;
  let waiters: Array<{ n: number; resolve: () => void }> = [];
  s.on('error', () => {});
  s.on('data', (d: Buffer) => {
    chunks.push(d);
    total += d.length;
    waiters = waiters.filter((w) => (total >= w.n ? (w.resolve(), false) : true));
  });
  return {
    atLeast: (n: number) => (total >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }))),
    /** All bytes, once the socket closed. */
    closed: new Promise<Buffer>((resolve) => s.once('close', () => resolve(Buffer.concat(chunks)))),
  };
}

describe('endPostgresSession (the drain deadline in terminate-mode PostgreSQL)', () => {
  const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);
  const GOODBYE = buildErrorResponse({ sqlstate: '57P01', message: 'Switchyard: the proxy is shutting down; reconnect' });
  const query = buildBackendMessage('Q', Buffer.from('select 1\0'));
  const row = (text: string) => buildBackendMessage('D', Buffer.concat([Buffer.from([0, 1, 0, 0, 0, text.length]), Buffer.from(text)]));
  const done = Buffer.concat([buildBackendMessage('C', Buffer.from('SELECT 1\0')), buildReadyForQuery()]);

  /**
   * client → pipeBoth (postgres) → database, all plain sockets. The test plays both peers;
   * the database closes when the proxy does (as PostgreSQL does after Terminate), the client
   * too unless `clientStays` (psql at its prompt reads nothing).
   */
  async function pgSession(opts: { postgres?: boolean; clientStays?: boolean } = {}) {
    let gotServer!: (s: Socket) => void;
    const server = new Promise<Socket>((r) => (gotServer = r));
    const upPort = await listen((s) => {
      s.on('end', () => s.end());
      gotServer(s);
    });
    let ended!: (e: PipeEnd) => void;
    const pipeEnded = new Promise<PipeEnd>((r) => (ended = r));
    let gotPiped!: (s: Socket) => void;
    const proxyClient = new Promise<Socket>((r) => (gotPiped = r));
    const proxyPort = await listen((c) => {
      c.pause();
      const up = dial(upPort, null);
      up.once('connect', () => {
        pipeBoth(c, up, ended, opts.postgres === false ? {} : { postgres: {} });
        gotPiped(c);
      });
    });
    const client = connect({ host: '127.0.0.1', port: proxyPort, allowHalfOpen: true });
    sockets.push(client);
    if (!opts.clientStays) client.on('end', () => client.end());
    const toClient = collect(client);
    const db = await server;
    const toServer = collect(db);
    const proxySide = await proxyClient;
    let gaveUp!: () => void;
    const givenUp = new Promise<void>((r) => (gaveUp = r));
    const end = (boundaryWaitMs = 10_000, lingerMs = 10_000) =>
      endPostgresSession(proxySide, {
        goodbye: GOODBYE,
        boundaryWaitMs,
        lingerMs,
        // What the connection does: both sides closed bare.
        giveUp: () => {
          gaveUp();
          proxySide.destroy();
          for (const s of sockets) if (s.remotePort === upPort) s.destroy();
        },
      });
    return { client, db, toClient, toServer, end, givenUp, pipeEnded };
  }

  it('idle session: the client reads the goodbye and is closed; the database gets a Terminate', async () => {
    const s = await pgSession();
    s.client.write(query);
    await s.toServer.atLeast(query.length);
    s.db.write(done);
    await s.toClient.atLeast(done.length);
    expect(s.end()).toBe(true);
    expect(s.end()).toBe(false); // once
    expect((await s.toClient.closed).equals(Buffer.concat([done, GOODBYE]))).toBe(true);
    expect((await s.toServer.closed).equals(Buffer.concat([query, TERMINATE]))).toBe(true);
    await s.pipeEnded;
  });

  // Cut inside the next message's header (2), right after it (5) and in its body (7).
  for (const split of [2, 5, 7]) {
    it(`mid-message (cut at byte ${split} of it): the server's bytes up to that message's end, then the goodbye; the rest is dropped`, async () => {
      const s = await pgSession();
      s.client.write(query);
      await s.toServer.atLeast(query.length);
      const [first, second, third] = [row('one'), row('two'), row('three')];
      s.db.write(Buffer.concat([first, second.subarray(0, split)]));
      await s.toClient.atLeast(first.length + split);
      expect(s.end()).toBe(true);
      s.db.write(Buffer.concat([second.subarray(split), third, done]));
      expect((await s.toClient.closed).equals(Buffer.concat([first, second, GOODBYE]))).toBe(true);
      expect((await s.toServer.closed).equals(Buffer.concat([query, TERMINATE]))).toBe(true);
    });
  }

  it('the client in the middle of a message: the database is closed without a Terminate', async () => {
    const s = await pgSession();
    const partial = query.subarray(0, 8);
    s.client.write(partial);
    await s.toServer.atLeast(partial.length);
    expect(s.end()).toBe(true);
    expect((await s.toClient.closed).equals(GOODBYE)).toBe(true);
    expect((await s.toServer.closed).equals(partial)).toBe(true);
  });

  it('no boundary within the bound (a huge DataRow in flight): closed bare, as before', async () => {
    const s = await pgSession();
    const head = Buffer.from([0x44, 0x10, 0, 0, 0, 0, 1]); // 'D' announcing 256 MiB
    s.db.write(head);
    await s.toClient.atLeast(head.length);
    expect(s.end(50)).toBe(true);
    await s.givenUp;
    expect((await s.toClient.closed).equals(head)).toBe(true);
  });

  it('a client that does not close is cut after the linger', async () => {
    const s = await pgSession({ clientStays: true });
    expect(s.end(10_000, 50)).toBe(true);
    await s.givenUp;
    s.client.end();
    expect((await s.toClient.closed).equals(GOODBYE)).toBe(true);
  });

  it('other pipes (passthrough, other engines) are not PostgreSQL sessions: left to the caller', async () => {
    const s = await pgSession({ postgres: false });
    expect(s.end()).toBe(false);
    s.client.destroy();
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

  it('reads the client side into reusable buffers too (the upload direction), bytes counted as always', async () => {
    const parts = mixedParts(3 * 1024 * 1024);
    const total = parts.reduce((n, b) => n + b.length, 0);
    let arrived!: (s: Socket) => void;
    const upstreamSide = new Promise<Socket>((r) => (arrived = r));
    const { client, ended } = await throughProxy((s) => {
      arrived(s);
      s.once('end', () => s.end());
    }, true);
    writeAll(client, parts);
    client.resume();
    const got = readSlowly(await upstreamSide);
    expect(sha(await got)).toBe(sha(Buffer.concat(parts)));
    const proxySide = sockets.find((s) => s.remotePort === client.localPort && s.localPort === client.remotePort)!;
    // No 'data' events on the accepted socket: its reads went through UpstreamReads.
    expect(proxySide.listenerCount('data')).toBe(0);
    expect(await ended).toBe('client_closed');
    expect(proxySide.bytesRead).toBe(total);
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

  it('gives a bulk-then-idle session\'s big buffer back at the idle sweep, and reads as before afterwards', async () => {
    let upstream!: Socket;
    const { client, ended, upstreamReads } = await throughProxy((s) => {
      upstream = s;
      s.once('data', () => s.write(first));
    }, true);
    // 100 KiB: on loopback (64 KiB segments) every read of it is ≥ 36 KiB, so the last one
    // is a full read too.
    const first = randomBytes(100 * 1024);
    const reads = (await upstreamReads)!;
    const got = receive(client, first.length);
    client.write('go');
    expect(sha(await got)).toBe(sha(first));
    // The transfer's full reads left the socket a big buffer for its next read.
    expect(reads.buffer.length).toBe(BIG_READ);
    const free = freeBigBuffers();
    // Two sweeps without a read in between: the first marks, the second parks (the sweep
    // timer may run one of them itself; the outcome is the same).
    sweepIdleReads();
    sweepIdleReads();
    expect(reads.buffer.length).toBe(SMALL_READ);
    expect(reads.parks).toBe(1);
    expect(freeBigBuffers()).toBeGreaterThanOrEqual(Math.min(free + 1, 32));
    // Reading resumes on the shared buffer, then takes a big one again for the next transfer.
    const second = randomBytes(3 * BIG_READ + 5);
    const more = receive(client, 5 + second.length);
    upstream.write('small');
    upstream.write(second);
    const all = await more;
    expect(all.subarray(0, 5).toString()).toBe('small');
    expect(sha(all.subarray(5))).toBe(sha(second));
    client.end();
    upstream.end();
    expect(['client_closed', 'upstream_closed']).toContain(await ended);
  });

  it('keeps the big buffer of a session whose peer is not reading (backpressure is not idleness)', async () => {
    const { client, ended, upstreamReads } = await throughProxy((s) => {
      s.on('error', () => {});
      s.once('data', () => {
        // Write for as long as anyone takes it: the client never reads, so the kernel
        // buffers on both hops fill and then the proxy's queue to the client.
        const chunk = randomBytes(BIG_READ);
        const pump = () => {
          while (s.write(chunk));
        };
        s.on('drain', pump);
        pump();
      });
    }, true);
    const reads = (await upstreamReads)!;
    if (client.connecting) await new Promise((r) => client.once('connect', r));
    client.pause();
    client.write('go');
    // The proxy stops reading the upstream once its write to the client is over the
    // high-water mark: then bytes wait to be written, from the socket's big buffer.
    const proxyClientSide = sockets.find((s) => s.remotePort === client.localPort && s.localPort === client.remotePort)!;
    await new Promise<void>((resolve) => {
      const poll = () => (proxyClientSide.writableLength > 0 ? resolve() : setImmediate(poll));
      poll();
    });
    expect(reads.buffer.length).toBe(BIG_READ);
    sweepIdleReads();
    sweepIdleReads();
    expect(reads.buffer.length).toBe(BIG_READ);
    expect(reads.parks).toBe(0);
    client.destroy();
    await ended;
  });
});
