/**
 * Opens the upstream side of a passthrough connection. For a PostgreSQL upstream the proxy
 * repeats the client's STARTTLS step (SSLRequest, expect 'S') before replaying the client's
 * ClientHello byte for byte, so the server completes TLS with the client end to end.
 */
import { connect, type Socket } from 'node:net';
import type { Endpoint } from '@switchyard/core';
import { buildSslRequest } from '@switchyard/wire';
import type { RefusalCode } from '../errors.js';
import type { CancelSignal } from './cancel.js';
import { UPSTREAM_ONREAD, type UpstreamReads } from './upstream-reads.js';

export class DialError extends Error {
  constructor(
    readonly code: RefusalCode,
    message: string,
  ) {
    super(message);
  }
}

export interface DialOptions {
  endpoint: Endpoint;
  timeoutMs: number;
  /** Negotiate TLS the PostgreSQL way before replaying the hello. */
  postgresStartTls: boolean;
  /** Bytes to send once the upstream is ready (the buffered ClientHello). */
  replay: Buffer;
  signal?: CancelSignal;
  /** Connect to this (already vetted) address instead of resolving `endpoint.host`. */
  address?: string;
  /** Local source address (egress with a static source IP). */
  localAddress?: string;
  /** Bytes sent before anything else, e.g. a PROXY protocol header. */
  prefix?: Buffer;
  /** Passthrough: read into reusable buffers (pipe/upstream-reads.ts) instead of `data` events. */
  reads?: UpstreamReads;
}

const SSL_REQUEST = buildSslRequest();

export function dialUpstream(opts: DialOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const up = connect({
      host: opts.address ?? opts.endpoint.host,
      port: opts.endpoint.port,
      localAddress: opts.localAddress,
      allowHalfOpen: true,
      noDelay: true,
      ...(opts.reads ? { onread: UPSTREAM_ONREAD } : {}),
    });
    opts.reads?.bind(up);
    let settled = false;
    const finish = (err: DialError | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      up.removeListener('error', onError);
      up.removeListener('close', onClose);
      if (err) {
        up.destroy();
        reject(err);
      } else {
        resolve(up);
      }
    };
    const onError = (e: Error) => finish(new DialError('upstream_unreachable', e.message));
    const onClose = () => finish(new DialError('upstream_unreachable', 'upstream closed during setup'));
    const onAbort = () => finish(new DialError('upstream_unreachable', 'client went away'));
    const timer = setTimeout(() => finish(new DialError('upstream_unreachable', 'connect timeout')), opts.timeoutMs);
    up.on('error', onError);
    up.on('close', onClose);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    up.once('connect', () => {
      if (opts.prefix && opts.prefix.length > 0) up.write(opts.prefix);
      if (!opts.postgresStartTls) {
        up.write(opts.replay);
        finish(null);
        return;
      }
      up.write(SSL_REQUEST);
      const onReply = (chunk: Buffer) => {
        if (chunk.length !== 1) {
          // Bytes after 'S' would be unencrypted data injected ahead of TLS (CVE-2021-23214).
          finish(new DialError('upstream_protocol_error', `unexpected ${chunk.length}-byte reply to SSLRequest`));
        } else if (chunk[0] === 0x53 /* S */) {
          up.write(opts.replay);
          finish(null);
        } else if (chunk[0] === 0x4e /* N */) {
          finish(new DialError('upstream_tls_refused', 'upstream refused SSLRequest'));
        } else {
          finish(new DialError('upstream_protocol_error', `unexpected reply 0x${chunk[0]!.toString(16)} to SSLRequest`));
        }
      };
      if (opts.reads) {
        opts.reads.nextChunk(onReply);
      } else {
        up.once('data', (chunk: Buffer) => {
          up.pause();
          onReply(chunk);
        });
      }
    });
  });
}
