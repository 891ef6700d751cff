/**
 * Sniffers: pure state machines that turn the first bytes of a connection into one
 * decision. They never touch a socket; the listener feeds them chunks and carries out
 * what they return. This keeps every byte-level edge case testable without I/O.
 */
import {
  ClientHelloAssembler,
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
   * A plaintext CancelRequest (postgres listeners): libpq's PQcancel opens a new connection
   * and sends the key without TLS or SNI. Routed by the key (pg/cancel.ts); never answered.
   */
  | { type: 'cancel'; processId: number; secretKey: Buffer }
  /**
   * Refuse. `speak` says what the client is waiting for: a PostgreSQL ErrorResponse (still in
   * the plaintext startup phase), a TLS alert (it sent a ClientHello), an HTTP response or a
   * RESP error (a plaintext request or command on a `tls` listener), or nothing.
   */
  | { type: 'refuse'; code: RefusalCode; speak: 'postgres' | 'tls' | 'http' | 'redis' | 'none'; detail?: string };

export interface Sniffer {
  feed(chunk: Uint8Array): SniffResult;
  /**
   * What the client is waiting for at this moment, for refusals that come from outside the
   * byte stream (the handshake deadline): a PostgreSQL client still in the plaintext startup
   * phase reads an ErrorResponse, one that sent (or was told to send) a ClientHello a TLS alert.
   */
  speaks(): 'postgres' | 'tls';
  /**
   * The client half-closed (FIN). Returns the refusal for the message it truncated, or null
   * when nothing is pending (it simply left).
   */
  endOfInput(): SniffResult | null;
}

const NEED_MORE: SniffResult = { type: 'need-more' };

/** Extra room for record headers beyond the hello size limit (hellos split into many records). */
const RECORD_OVERHEAD_ALLOWANCE = 4096;

class HelloReader {
  private readonly acc = new ByteAccumulator();
  isEmpty(): boolean {
    return this.acc.length === 0;
  }
  /** The refusal for bytes cut short by the client's FIN (null when none are buffered). */
  truncated(viaSslRequest: boolean): SniffResult | null {
    if (this.acc.length === 0) return null;
    const looksTls = this.acc.view()[0] === TLS_CONTENT_TYPE_HANDSHAKE;
    return looksTls || viaSslRequest
      ? { type: 'refuse', code: 'hello_invalid', speak: 'tls', detail: 'truncated' }
      : { type: 'refuse', code: 'not_tls', speak: 'none', detail: 'truncated' };
  }
  // Resumes at the first incomplete record: a hello trickled in one-byte records, one byte
  // per segment, costs linear work (re-parsing from the start was quadratic: ~1 s of CPU
  // for one such 20 KB client).
  private readonly assembler: ClientHelloAssembler;
  constructor(private readonly maxHelloBytes: number) {
    this.assembler = new ClientHelloAssembler({ maxHelloBytes });
  }

  /**
   * Usually the whole hello is in the first segment: it is parsed where it is and `chunk`
   * itself becomes the replay bytes (no copy), so callers pass buffers they do not reuse.
   */
  feed(chunk: Uint8Array, viaSslRequest: boolean): SniffResult {
    let view: Uint8Array;
    if (this.acc.length === 0) {
      view = chunk;
    } else {
      this.acc.append(chunk);
      view = this.acc.view();
    }
    const r = this.assembler.feed(view);
    if (r.status === 'ok') {
      const bytes = view === chunk ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : this.acc.take();
      return { type: 'hello', hello: r.value, bytes, viaSslRequest };
    }
    if (view === chunk && r.status === 'need-more') {
      // The assembler resumes at its offset into the same stream, now accumulated.
      this.acc.append(chunk);
      view = this.acc.view();
    }
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

/**
 * `tls` listeners: the first bytes must be a ClientHello.
 *
 * One exception, off the hello path (decided by the first byte, 0x00, which no TLS record
 * starts with): libpq pointed at this port. Closing it silently left psql with "server closed
 * the connection unexpectedly". A plaintext StartupMessage (sslmode=disable) is answered with
 * an ErrorResponse naming the port to use (`postgres_on_tls_port`). An SSLRequest is answered
 * 'N' — this port offers no PostgreSQL STARTTLS — rather than 'E', which libpq (since the
 * CVE-2024-10977 fix) does not show: sslmode=prefer, libpq's default, then sends its
 * StartupMessage in plaintext and reads that ErrorResponse; sslmode=require and stricter stop
 * at "server does not support SSL, but SSL was required", which at least names the step that
 * failed. A GSSENCRequest before it (libpq with a Kerberos ticket) gets 'N' too, once, as a
 * PostgreSQL server without GSSAPI answers it. A plaintext CancelRequest is handed over like on `postgres` listeners: a client
 * given this port's connection string (direct TLS) sends its cancel here, in plaintext
 * (node-postgres; libpq's PQcancel, i.e. psql's Ctrl-C), and a terminate-mode session's key is
 * routable (pg/cancel.ts). Nothing else is answered (a second GSSENCRequest or SSLRequest,
 * a GSSENCRequest after the SSLRequest, malformed packets, bytes pipelined after either):
 * those close silently as before.
 *
 * Another, decided only once the hello path has refused the bytes as not TLS: a plain HTTP
 * request (`curl http://<name>:<tls port>/`, an `http://` URL for an HTTPS app). Closing it
 * left curl with "Empty reply from server"; it is answered 400 naming the fix
 * (`http_on_tls_port`), as nginx answers "The plain HTTP request was sent to HTTPS port".
 * Likewise a plaintext Redis command (`redis-cli -h <proxy> -p <tls port> PING`, without
 * `--tls`): closing it left redis-cli with "Error: Server closed the connection"; it gets a
 * RESP error naming `--tls --sni` (`redis_on_tls_port`).
 */
export class TlsSniffer implements Sniffer {
  private readonly reader: HelloReader;
  /** Plaintext PostgreSQL (first byte 0x00): its startup bytes; null on the hello path. */
  private pg: ByteAccumulator | null = null;
  private sslRefused = false;
  private gssRefused = false;
  constructor(maxHelloBytes: number) {
    this.reader = new HelloReader(maxHelloBytes);
  }
  feed(chunk: Uint8Array): SniffResult {
    // One byte compare per chunk on the hello path; a hello starts with 0x16.
    if (this.pg === null && (chunk.length === 0 || chunk[0] !== 0 || !this.reader.isEmpty())) {
      const r = this.reader.feed(chunk, false);
      // Refusal path only: the hello path returns before these compares matter.
      if (r.type === 'refuse' && r.detail === 'not-tls') {
        if (looksLikeHttpRequest(chunk)) return { type: 'refuse', code: 'http_on_tls_port', speak: 'http', detail: 'http-request' };
        if (looksLikeRespCommand(chunk)) return { type: 'refuse', code: 'redis_on_tls_port', speak: 'redis', detail: 'redis-command' };
      }
      return r;
    }
    return this.plaintextPostgres(chunk);
  }
  speaks(): 'postgres' | 'tls' {
    return this.pg === null ? 'tls' : 'postgres';
  }
  endOfInput(): SniffResult | null {
    if (this.pg === null) return this.reader.truncated(false);
    return this.pg.length === 0 ? null : { type: 'refuse', code: 'not_tls', speak: 'none', detail: 'truncated' };
  }

  private plaintextPostgres(chunk: Uint8Array): SniffResult {
    this.pg ??= new ByteAccumulator(64);
    this.pg.append(chunk);
    const view = this.pg.view();
    const r = parseStartupPacket(view);
    if (r.status === 'need-more') return NEED_MORE;
    if (r.status === 'error') return { type: 'refuse', code: 'not_tls', speak: 'none', detail: r.code };
    if (r.value.kind === 'startup') return { type: 'refuse', code: 'postgres_on_tls_port', speak: 'postgres', detail: 'postgres-startup' };
    if (r.value.kind === 'cancel-request') return { type: 'cancel', processId: r.value.processId, secretKey: r.value.secretKey };
    if (r.value.kind === 'ssl-request' && !this.sslRefused && view.length === r.consumed) {
      this.sslRefused = true;
      this.pg.reset();
      return { type: 'reply', bytes: PG_SSL_REFUSE };
    }
    // libpq negotiates GSSAPI encryption before TLS (gssencmode=prefer, its default, once it
    // holds a Kerberos ticket) and gives up if the connection closes instead of answering.
    if (r.value.kind === 'gssenc-request' && !this.gssRefused && !this.sslRefused && view.length === r.consumed) {
      this.gssRefused = true;
      this.pg.reset();
      return { type: 'reply', bytes: PG_SSL_REFUSE };
    }
    return { type: 'refuse', code: 'not_tls', speak: 'none', detail: `postgres-${r.value.kind}` };
  }
}

/** HTTP/1.x methods (RFC 9110 §9, plus PATCH): a request line starts with one and a space. */
const HTTP_METHODS = /^(?:GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|TRACE|CONNECT) /;

/**
 * The first bytes of a plain HTTP/1.x request: a method and a space (the longest, `OPTIONS `
 * and `CONNECT `, are 8 bytes). HTTP/2 prior knowledge (`PRI * HTTP/2.0`) is not answered: an
 * HTTP/1.1 response means nothing to an h2c client.
 */
function looksLikeHttpRequest(chunk: Uint8Array): boolean {
  return HTTP_METHODS.test(Buffer.from(chunk.buffer, chunk.byteOffset, Math.min(chunk.byteLength, 8)).toString('latin1'));
}

/**
 * The first bytes of a Redis command as every client library and redis-cli send it: a RESP
 * array of bulk strings, `*<count>\r\n$<length>\r\n…`
 * (https://redis.io/docs/latest/develop/reference/protocol-spec/#sending-commands-to-a-redis-server).
 * Inline commands (`PING\r\n` typed into nc) are not answered: plain text could be anything.
 */
const RESP_COMMAND = /^\*[1-9][0-9]{0,6}\r\n\$[0-9]/;

function looksLikeRespCommand(chunk: Uint8Array): boolean {
  return RESP_COMMAND.test(Buffer.from(chunk.buffer, chunk.byteOffset, Math.min(chunk.byteLength, 16)).toString('latin1'));
}

/**
 * `postgres` listeners. A libpq client opens with SSLRequest (answered 'S', then the
 * ClientHello follows), possibly preceded by a GSSENCRequest (answered 'N'; at most once),
 * or, with `sslnegotiation=direct` (PostgreSQL 17+), with the ClientHello itself.
 * A plaintext StartupMessage is refused with an ErrorResponse explaining the fix.
 */
export class PostgresSniffer implements Sniffer {
  private state: 'startup' | 'hello' | 'renegotiation' = 'startup';
  private viaSslRequest = false;
  private gssRefused = false;
  private readonly startup = new ByteAccumulator(64);
  private readonly reader: HelloReader;

  constructor(maxHelloBytes: number) {
    this.reader = new HelloReader(maxHelloBytes);
  }

  speaks(): 'postgres' | 'tls' {
    return this.state === 'startup' || this.state === 'renegotiation' ? 'postgres' : 'tls';
  }

  endOfInput(): SniffResult | null {
    if (this.state === 'hello') return this.reader.truncated(this.viaSslRequest);
    if (this.startup.length === 0) return null;
    return { type: 'refuse', code: 'protocol_violation', speak: 'postgres', detail: 'truncated' };
  }

  feed(chunk: Uint8Array): SniffResult {
    if (this.state === 'hello') {
      // After our 'S' a client must start TLS. One that sends another startup packet
      // instead (a second SSLRequest, a GSSENCRequest, a StartupMessage) is still speaking
      // PostgreSQL in plaintext: refuse it with an ErrorResponse it can read, as the protocol
      // allows each negotiation at most once. A startup packet's length word starts with 0x00.
      if (this.viaSslRequest && this.reader.isEmpty() && chunk.length > 0 && chunk[0] === 0) this.state = 'renegotiation';
      else return this.reader.feed(chunk, this.viaSslRequest);
    }
    if (this.state === 'renegotiation') return this.renegotiation(chunk);
    this.startup.append(chunk);
    const view = this.startup.view();
    // A startup packet's length word starts with 0x00 (lengths are ≤ 10004), so 0x16 can
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
        if (this.gssRefused) return { type: 'refuse', code: 'protocol_violation', speak: 'postgres', detail: 'repeated-gssenc-request' };
        if (extra) return { type: 'refuse', code: 'data_after_ssl_request', speak: 'postgres' };
        this.gssRefused = true;
        this.startup.reset();
        return { type: 'reply', bytes: PG_SSL_REFUSE };
      case 'cancel-request':
        return { type: 'cancel', processId: r.value.processId, secretKey: r.value.secretKey };
      case 'startup':
        return { type: 'refuse', code: 'tls_required', speak: 'postgres' };
    }
  }

  /** Plaintext after our 'S': read the startup packet to say precisely what was wrong. */
  private renegotiation(chunk: Uint8Array): SniffResult {
    this.startup.append(chunk);
    const r = parseStartupPacket(this.startup.view());
    if (r.status === 'need-more') return NEED_MORE;
    const detail =
      r.status === 'error'
        ? r.code
        : r.value.kind === 'ssl-request'
          ? 'repeated-ssl-request'
          : r.value.kind === 'gssenc-request'
            ? 'gssenc-request-after-ssl'
            : r.value.kind === 'cancel-request'
              ? 'cancel-request-after-ssl'
              : 'startup-without-tls';
    return { type: 'refuse', code: 'protocol_violation', speak: 'postgres', detail };
  }
}
