/**
 * Sniffers: pure state machines that turn the first bytes of a connection into one
 * decision. They never touch a socket; the listener feeds them chunks and carries out
 * what they return. This keeps every byte-level edge case testable without I/O.
 */
import {
  parseClientHello,
  parseStartupPacket,
  PG_SSL_ACCEPT,
  PG_SSL_REFUSE,
  TLS_CONTENT_TYPE_HANDSHAKE,
  type ClientHello,
} from '@switchyard/wire';
import type { RefusalCode } from '../errors.js';
import { ByteAccumulator } from './byte-accumulator.js';

export type SniffResult =
  | { type: 'need-more' }
  /** Write these bytes to the client and keep reading. */
  | { type: 'reply'; bytes: Buffer }
  /** A complete ClientHello; `bytes` is everything received since it began, for replay. */
  | { type: 'hello'; hello: ClientHello; bytes: Buffer; viaSslRequest: boolean }
  /**
   * Refuse. `speak` says what the client is waiting for: a PostgreSQL ErrorResponse (still in
   * the plaintext startup phase), a TLS alert (it sent a ClientHello), or nothing.
   */
  | { type: 'refuse'; code: RefusalCode; speak: 'postgres' | 'tls' | 'none'; detail?: string };

export interface Sniffer {
  feed(chunk: Uint8Array): SniffResult;
}

const NEED_MORE: SniffResult = { type: 'need-more' };

/** Extra room for record headers beyond the hello size limit (hellos split into many records). */
const RECORD_OVERHEAD_ALLOWANCE = 4096;

class HelloReader {
  private readonly acc = new ByteAccumulator();
  constructor(private readonly maxHelloBytes: number) {}

  feed(chunk: Uint8Array, viaSslRequest: boolean): SniffResult {
    this.acc.append(chunk);
    const view = this.acc.view();
    const r = parseClientHello(view, { maxHelloBytes: this.maxHelloBytes });
    if (r.status === 'ok') return { type: 'hello', hello: r.value, bytes: this.acc.take(), viaSslRequest };
    if (r.status === 'error') {
      const looksTls = view[0] === TLS_CONTENT_TYPE_HANDSHAKE;
      return {
        type: 'refuse',
        code: r.code === 'not-tls' || r.code === 'sslv2-hello' ? 'not_tls' : 'hello_invalid',
        // A client that spoke SSLRequest expects TLS now, whatever it sent.
        speak: looksTls || viaSslRequest ? 'tls' : 'none',
        detail: r.code,
      };
    }
    if (this.acc.length > this.maxHelloBytes + RECORD_OVERHEAD_ALLOWANCE) {
      return { type: 'refuse', code: 'hello_invalid', speak: 'tls', detail: 'hello-too-large' };
    }
    return NEED_MORE;
  }
}

/** `tls` listeners: the first bytes must be a ClientHello. */
export class TlsSniffer implements Sniffer {
  private readonly reader: HelloReader;
  constructor(maxHelloBytes: number) {
    this.reader = new HelloReader(maxHelloBytes);
  }
  feed(chunk: Uint8Array): SniffResult {
    return this.reader.feed(chunk, false);
  }
}

/**
 * `postgres` listeners. A libpq client opens with SSLRequest (answered 'S', then the
 * ClientHello follows), possibly preceded by a GSSENCRequest (answered 'N'; at most once),
 * or, with `sslnegotiation=direct` (PostgreSQL 17+), with the ClientHello itself.
 * A plaintext StartupMessage is refused with an ErrorResponse explaining the fix.
 */
export class PostgresSniffer implements Sniffer {
  private state: 'startup' | 'hello' = 'startup';
  private viaSslRequest = false;
  private gssRefused = false;
  private readonly startup = new ByteAccumulator(64);
  private readonly reader: HelloReader;

  constructor(maxHelloBytes: number) {
    this.reader = new HelloReader(maxHelloBytes);
  }

  feed(chunk: Uint8Array): SniffResult {
    if (this.state === 'hello') return this.reader.feed(chunk, this.viaSslRequest);
    this.startup.append(chunk);
    const view = this.startup.view();
    // A startup packet's length word starts with 0x00 (lengths are ≤ 10000), so 0x16 can
    // only be a TLS handshake record: direct TLS.
    if (view[0] === TLS_CONTENT_TYPE_HANDSHAKE) {
      this.state = 'hello';
      return this.reader.feed(this.startup.take(), false);
    }
    const r = parseStartupPacket(view);
    if (r.status === 'need-more') return NEED_MORE;
    if (r.status === 'error') return { type: 'refuse', code: 'protocol_violation', speak: 'postgres', detail: r.code };
    const extra = view.length > r.consumed;
    switch (r.value.kind) {
      case 'ssl-request':
        // CVE-2021-23222: bytes sent before our 'S' could have been injected by a
        // man-in-the-middle; PostgreSQL refuses them, and so do we.
        if (extra) return { type: 'refuse', code: 'data_after_ssl_request', speak: 'postgres' };
        this.startup.reset();
        this.state = 'hello';
        this.viaSslRequest = true;
        return { type: 'reply', bytes: PG_SSL_ACCEPT };
      case 'gssenc-request':
        if (this.gssRefused) return { type: 'refuse', code: 'protocol_violation', speak: 'postgres', detail: 'repeated GSSENCRequest' };
        if (extra) return { type: 'refuse', code: 'data_after_ssl_request', speak: 'postgres' };
        this.gssRefused = true;
        this.startup.reset();
        return { type: 'reply', bytes: PG_SSL_REFUSE };
      case 'cancel-request':
        return { type: 'refuse', code: 'cancel_unsupported', speak: 'none' };
      case 'startup':
        return { type: 'refuse', code: 'tls_required', speak: 'postgres' };
    }
  }
}
