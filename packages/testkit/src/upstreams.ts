/**
 * Fake upstream servers for proxy tests. They are real TLS servers (node:tls) with
 * certificates from @switchyard/pki; "postgres-like" ones implement the SSLRequest step.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';

export interface FakeUpstream {
  port: number;
  /** SNI values seen by the upstream's TLS stack (proves the hello was replayed intact). */
  serverNames: string[];
  connections: number;
  close(): Promise<void>;
}

export interface FakeUpstreamOptions {
  certPem: string;
  keyPem: string;
  /** Answer an SSLRequest with 'S' before TLS (PostgreSQL style). */
  postgres?: boolean;
  /** Reply to SSLRequest with this byte instead of 'S' (e.g. 'N'). */
  sslReply?: string;
  /** Called with each established TLS socket; default echoes. */
  onSecure?: (tls: TLSSocket) => void;
}

export async function startFakeUpstream(opts: FakeUpstreamOptions): Promise<FakeUpstream> {
  const ctx: SecureContext = createSecureContext({ cert: opts.certPem, key: opts.keyPem });
  const sockets = new Set<Socket>();
  const state = { serverNames: [] as string[], connections: 0 };
  const secure = (raw: Socket) => {
    const tls = new TLSSocket(raw, { isServer: true, secureContext: ctx, ALPNProtocols: ['postgresql', 'http/1.1'] });
    tls.on('secure', () => {
      state.serverNames.push((tls as unknown as { servername?: string }).servername ?? '');
    });
    tls.on('error', () => tls.destroy());
    if (opts.onSecure) opts.onSecure(tls);
    else tls.pipe(tls);
  };
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    state.connections++;
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    if (!opts.postgres) return secure(sock);
    sock.once('readable', function read() {
      const head = sock.read(8) as Buffer | null;
      if (!head) return sock.once('readable', read);
      sock.write(opts.sslReply ?? 'S');
      if ((opts.sslReply ?? 'S') !== 'S') return sock.end();
      secure(sock);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    get serverNames() {
      return state.serverNames;
    },
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export interface FakePgBackend {
  /** Startup packets received (StartupMessages and CancelRequests), as sent. */
  packets: Buffer[];
  /** The BackendKeyData each session was given. */
  keys: Array<{ processId: number; secretKey: Buffer }>;
  /** Resolves on every CancelRequest (the key it carried). */
  onCancel(listener: (key: { processId: number; secretKey: Buffer }) => void): void;
}

/**
 * A minimal PostgreSQL backend for proxy tests, on any stream (plaintext or after TLS): to a
 * StartupMessage it answers AuthenticationOk, ParameterStatus `startup` = the packet it
 * received (base64, so a test sees exactly what the proxy forwarded), BackendKeyData (a 4-byte
 * secret for protocol 3.0, 32 bytes for 3.2, as PostgreSQL 18) and ReadyForQuery; after
 * that it echoes every byte. A CancelRequest is recorded and the connection closed.
 */
export function createFakePgBackend(): FakePgBackend & { serve(stream: Duplex): void } {
  const packets: Buffer[] = [];
  const keys: FakePgBackend['keys'] = [];
  const cancelListeners: Array<(key: { processId: number; secretKey: Buffer }) => void> = [];
  let nextPid = 1000;
  const message = (type: string, body: Buffer) => {
    const head = Buffer.alloc(5);
    head.write(type, 0, 'latin1');
    head.writeInt32BE(4 + body.length, 1);
    return Buffer.concat([head, body]);
  };
  return {
    packets,
    keys,
    onCancel: (l) => cancelListeners.push(l),
    serve(stream) {
      let buf = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < 8) return;
        const len = buf.readInt32BE(0);
        if (buf.length < len) return;
        stream.removeListener('data', onData);
        const packet = buf.subarray(0, len);
        const rest = buf.subarray(len);
        packets.push(Buffer.from(packet));
        const code = packet.readInt32BE(4);
        if (code === 80877102) {
          const key = { processId: packet.readInt32BE(8), secretKey: Buffer.from(packet.subarray(12)) };
          for (const l of cancelListeners) l(key);
          stream.end();
          return;
        }
        const key = { processId: nextPid++, secretKey: Buffer.alloc(code === 196610 ? 32 : 4, nextPid & 0xff) };
        keys.push(key);
        const k = Buffer.alloc(4 + key.secretKey.length);
        k.writeInt32BE(key.processId, 0);
        key.secretKey.copy(k, 4);
        stream.write(
          Buffer.concat([
            message('R', Buffer.from([0, 0, 0, 0])),
            message('S', Buffer.from(`startup\0${packet.toString('base64')}\0`)),
            message('K', k),
            message('Z', Buffer.from('I')),
          ]),
        );
        if (rest.length > 0) stream.write(rest);
        stream.pipe(stream);
      };
      stream.on('data', onData);
      stream.on('error', () => {});
    },
  };
}
