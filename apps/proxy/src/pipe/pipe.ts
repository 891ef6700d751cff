/**
 * Copies bytes both ways between two established sockets until both are closed, and says
 * which side ended first. Half-close aware: a FIN from one side is forwarded as a FIN
 * (both sockets are created with allowHalfOpen), so responses still in flight arrive.
 * No idle timeout: long queries and idle database sessions are never cut by the proxy;
 * TCP keepalive finds peers that vanished behind a NAT.
 *
 * `rewriter` (terminate-mode PostgreSQL): the server's startup messages pass through it until
 * its first ReadyForQuery, so the client receives the proxy-minted BackendKeyData; from then
 * on the upstream is piped directly like everything else.
 */
import type { Socket } from 'node:net';
import type { BackendKeyRewriter } from '@switchyard/wire';

export type PipeEnd = 'client_closed' | 'upstream_closed' | 'client_error' | 'upstream_error';

export function pipeBoth(client: Socket, upstream: Socket, onDone: (firstEnd: PipeEnd) => void, rewriter?: BackendKeyRewriter): void {
  client.setKeepAlive(true, 60_000);
  upstream.setKeepAlive(true, 60_000);
  let first: PipeEnd | null = null;
  let closed = 0;
  const onClosed = () => {
    if (++closed === 2) onDone(first ?? 'client_closed');
  };
  client.once('end', () => (first ??= 'client_closed'));
  upstream.once('end', () => (first ??= 'upstream_closed'));
  client.on('error', () => {
    first ??= 'client_error';
    upstream.destroy();
  });
  upstream.on('error', () => {
    first ??= 'upstream_error';
    client.destroy();
  });
  // A peer that closed without a FIN (reset, destroy): do not leave the other side hanging.
  client.once('close', () => {
    if (!upstream.destroyed && !upstream.writableEnded) upstream.end();
    onClosed();
  });
  upstream.once('close', () => {
    if (!client.destroyed && !client.writableEnded) client.end();
    onClosed();
  });
  client.pipe(upstream);
  if (!rewriter || rewriter.done) {
    upstream.pipe(client);
    return;
  }
  const onStartupData = (chunk: Buffer) => {
    const r = rewriter.feed(chunk);
    if (r.status === 'error') {
      upstream.destroy(new Error(r.message));
      return;
    }
    let flushed = true;
    for (const b of r.out) if (b.length > 0) flushed = client.write(b) && flushed;
    if (r.done) {
      // Synchronous hand-over inside the 'data' handler: no chunk can fall between the two.
      upstream.removeListener('data', onStartupData);
      upstream.removeListener('end', onStartupEnd);
      upstream.pipe(client);
    } else if (!flushed) {
      upstream.pause();
      client.once('drain', () => upstream.resume());
    }
  };
  // The server ended during startup (e.g. authentication failed after its ErrorResponse).
  const onStartupEnd = () => {
    if (!client.destroyed && !client.writableEnded) client.end();
  };
  upstream.on('data', onStartupData);
  upstream.once('end', onStartupEnd);
}
