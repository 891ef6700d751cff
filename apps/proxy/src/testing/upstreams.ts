/**
 * Small real upstreams for routing tests: a plain HTTP server that names itself, and a raw
 * TCP server that records who connected (remote address, a PROXY header if one came first)
 * and echoes what follows.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket, createSecureContext } from 'node:tls';
import { parseProxyHeader, type ProxyHeader } from '@switchyard/wire';

export interface HttpUpstream {
  port: number;
  hosts: string[];
  close(): Promise<void>;
}

export async function startHttpUpstream(name: string): Promise<HttpUpstream> {
  const hosts: string[] = [];
  const server: HttpServer = createHttpServer((req, res) => {
    hosts.push(req.headers.host ?? '');
    res.setHeader('content-type', 'text/plain');
    res.end(`${name} ${req.method} ${req.url}`);
  });
  server.keepAliveTimeout = 100;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    hosts,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

export interface SeenConnection {
  remoteAddress: string;
  proxyHeader: ProxyHeader | null;
}

export interface TcpUpstream {
  port: number;
  name: string;
  seen: SeenConnection[];
  /** Resolves with the next connection's record once its first bytes arrived. */
  next(): Promise<SeenConnection>;
  close(): Promise<void>;
}

/**
 * Echo server. When `expectProxy` is set the first bytes must be a PROXY header, which is
 * recorded and stripped; `banner` is written on connect (server-first protocols).
 */
export async function startTcpUpstream(opts: {
  name: string;
  expectProxy?: boolean;
  banner?: string;
  host?: string;
  /** Complete TLS (after the PROXY header, if any) and echo inside it. */
  tls?: { certPem: string; keyPem: string };
}): Promise<TcpUpstream> {
  const ctx = opts.tls ? createSecureContext({ cert: opts.tls.certPem, key: opts.tls.keyPem }) : null;
  const echo = (sock: Socket, head: Buffer) => {
    if (!ctx) {
      if (head.length) sock.write(head);
      sock.pipe(sock);
      return;
    }
    // TLSSocket over a net.Socket reads its handle directly and would miss bytes already
    // read (the hello that arrived with the PROXY header); a JS duplex carries them.
    const carrier = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        sock.write(chunk, cb);
      },
      final(cb) {
        sock.end();
        cb();
      },
    });
    if (head.length) carrier.push(head);
    sock.on('data', (c: Buffer) => carrier.push(c));
    sock.on('end', () => carrier.push(null));
    sock.on('close', () => carrier.destroy());
    const tls = new TLSSocket(carrier, { isServer: true, secureContext: ctx });
    tls.on('error', () => tls.destroy());
    tls.pipe(tls);
  };
  const seen: SeenConnection[] = [];
  const waiters: Array<(c: SeenConnection) => void> = [];
  const sockets = new Set<Socket>();
  const record = (c: SeenConnection) => {
    seen.push(c);
    waiters.shift()?.(c);
  };
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    const remoteAddress = (sock.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (opts.banner) sock.write(opts.banner);
    if (!opts.expectProxy) {
      record({ remoteAddress, proxyHeader: null });
      echo(sock, Buffer.alloc(0));
      return;
    }
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf);
      if (r.status === 'need-more') return;
      sock.off('data', onData);
      if (r.status === 'error') {
        record({ remoteAddress, proxyHeader: null });
        sock.destroy();
        return;
      }
      record({ remoteAddress, proxyHeader: r.value });
      echo(sock, buf.subarray(r.consumed));
    };
    sock.on('data', onData);
  });
  server.listen(0, opts.host ?? '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    name: opts.name,
    seen,
    next: () => new Promise((r) => waiters.push(r)),
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
