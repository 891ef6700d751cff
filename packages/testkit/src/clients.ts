/**
 * Raw protocol clients for tests: a TLS client with SNI, the same after a PostgreSQL
 * SSLRequest, and helpers that read exactly what a refusal looks like on the wire.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { buildSslRequest } from '@switchyard/wire';

export interface TlsClientOptions {
  port: number;
  servername: string;
  /** Send an SSLRequest first and require 'S' (PostgreSQL STARTTLS). */
  postgres?: boolean;
  ca?: string;
  alpn?: string[];
  /** Source address (any 127.x.y.z works on Linux), to test per-client behaviour. */
  localAddress?: string;
}

/** Opens a TCP socket, optionally performs SSLRequest, and returns it. */
export async function rawConnect(port: number, localAddress?: string): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port, localAddress });
  await once(s, 'connect');
  return s;
}

/** Reads everything the peer sends until it closes. */
export function readUntilClose(s: Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.once('close', () => resolve(Buffer.concat(chunks)));
  });
}

export async function startTls(opts: TlsClientOptions): Promise<TLSSocket> {
  const socket = await rawConnect(opts.port, opts.localAddress);
  if (opts.postgres) {
    socket.write(buildSslRequest());
    const [reply] = (await once(socket, 'data')) as [Buffer];
    if (reply.toString() !== 'S') throw new Error(`SSLRequest answered ${JSON.stringify(reply.toString('latin1'))}`);
  }
  const tls = tlsConnect({
    host: '127.0.0.1',
    port: opts.port,
    socket,
    servername: opts.servername,
    ca: opts.ca,
    rejectUnauthorized: Boolean(opts.ca),
    ALPNProtocols: opts.alpn,
  });
  await new Promise<void>((resolve, reject) => {
    tls.once('secureConnect', () => resolve());
    tls.once('error', reject);
  });
  return tls;
}

/** Sends `payload` and waits for the same bytes back (echo upstreams). */
export async function echo(tls: TLSSocket, payload: string): Promise<string> {
  tls.write(payload);
  let got = '';
  while (got.length < payload.length) {
    const [chunk] = (await once(tls, 'data')) as [Buffer];
    got += chunk.toString();
  }
  return got;
}

/** Connects with TLS and reports the error the client sees (e.g. an alert). */
export async function tlsFailure(opts: TlsClientOptions): Promise<Error> {
  try {
    const tls = await startTls(opts);
    tls.destroy();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the TLS handshake to fail');
}
