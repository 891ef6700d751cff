/**
 * Fake upstream servers for proxy tests. They are real TLS servers (node:tls) with
 * certificates from @switchyard/pki; "postgres-like" ones implement the SSLRequest step.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
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
