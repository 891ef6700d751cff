/**
 * Copies bytes both ways between two established sockets until both are closed, and says
 * which side ended first. Half-close aware: a FIN from one side is forwarded as a FIN
 * (both sockets are created with allowHalfOpen), so responses still in flight arrive.
 * No idle timeout: long queries and idle database sessions are never cut by the proxy;
 * TCP keepalive finds peers that vanished behind a NAT.
 */
import type { Socket } from 'node:net';
import type { UpstreamReads } from './upstream-reads.js';

export type PipeEnd = 'client_closed' | 'upstream_closed' | 'client_error' | 'upstream_error';

/** `reads`: the upstream was dialled with reusable read buffers (passthrough). */
export function pipeBoth(client: Socket, upstream: Socket, onDone: (firstEnd: PipeEnd) => void, reads?: UpstreamReads): void {
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
  if (reads) reads.attach(client);
  else upstream.pipe(client);
}
