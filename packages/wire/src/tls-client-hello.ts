/**
 * TLS ClientHello parser: reads the SNI host name, ALPN protocols and offered versions from
 * the first bytes a TLS client sends, without terminating TLS.
 *
 * References:
 *  - Record layer: RFC 8446 §5.1 (TLSPlaintext: type(1) legacy_version(2) length(2) fragment;
 *    length MUST NOT exceed 2^14; zero-length handshake fragments are forbidden; handshake
 *    messages MAY be fragmented across several records and MUST NOT be interleaved with
 *    other record types).
 *  - ClientHello: RFC 8446 §4.1.2; extensions RFC 8446 §4.2 (no duplicates).
 *  - server_name: RFC 6066 §3 (one host_name entry, ASCII, no trailing dot).
 *  - ALPN: RFC 7301 §3.1. supported_versions: RFC 8446 §4.2.1.
 *
 * A post-quantum hybrid key share (X25519MLKEM768) makes a ClientHello of ~1.8 KB that often
 * arrives in several TCP segments; some clients also split it over several TLS records. The
 * parser is a pure function over all bytes buffered so far and is re-run as bytes arrive; it
 * fails fast (from the first record header) on input that cannot become a valid hello.
 */
import { fail, NEED_MORE, ok, type ParseResult } from './result.js';

export const TLS_RECORD_HEADER_LENGTH = 5;
/** RFC 8446 §5.1: TLSPlaintext.length MUST NOT exceed 2^14. */
export const TLS_MAX_RECORD_PAYLOAD = 16384;
export const TLS_CONTENT_TYPE_HANDSHAKE = 22;
export const TLS_CONTENT_TYPE_ALERT = 21;
export const TLS_HANDSHAKE_CLIENT_HELLO = 1;
export const TLS_EXT_SERVER_NAME = 0;
export const TLS_EXT_ALPN = 16;
export const TLS_EXT_SUPPORTED_VERSIONS = 43;
/**
 * Default cap on the ClientHello handshake message. Real hellos are 200 B – 2 KB (a
 * post-quantum key share adds ~1.2 KB); 16 KiB leaves room for large extension sets while
 * keeping what an unauthenticated client can make the proxy buffer small.
 */
export const DEFAULT_MAX_CLIENT_HELLO_BYTES = 16384;

export interface ClientHello {
  /** server_name host_name exactly as sent (ASCII), or null when absent. */
  serverName: string | null;
  /** ALPN protocol names in client preference order (empty when absent). */
  alpn: string[];
  /** ClientHello.legacy_version, e.g. 0x0303. */
  legacyVersion: number;
  /** supported_versions extension contents (empty when absent). */
  supportedVersions: number[];
  /** Number of TLS records the hello spanned. */
  records: number;
}

export type ClientHelloError =
  | 'not-tls'
  | 'sslv2-hello'
  | 'bad-record-version'
  | 'record-too-large'
  | 'empty-record'
  | 'unexpected-record'
  | 'not-client-hello'
  | 'hello-too-large'
  | 'malformed'
  | 'duplicate-extension'
  | 'bad-server-name';

export interface ClientHelloLimits {
  maxHelloBytes?: number;
}

type Result = ParseResult<ClientHello, ClientHelloError>;

/** True when the first byte can start a TLS handshake record (the listener's sniff test). */
export function looksLikeTls(firstByte: number): boolean {
  return firstByte === TLS_CONTENT_TYPE_HANDSHAKE;
}

/**
 * Parses the bytes received so far. Pure: the same bytes always give the same result. A
 * caller that re-parses a growing buffer on every TCP segment should use
 * `ClientHelloAssembler`, which resumes where it stopped instead of re-walking every record.
 */
export function parseClientHello(buf: Uint8Array, limits: ClientHelloLimits = {}): Result {
  return new ClientHelloAssembler(limits).feed(buf);
}

/**
 * Incremental form of `parseClientHello` for one connection. `feed` is given every byte
 * received so far (each call's buffer extends the previous one); completed records are
 * never walked again, so a client that sends a hello of many one-byte records one byte per
 * segment costs linear work, not quadratic. Once the result is `ok` or `error` it is final.
 */
export class ClientHelloAssembler {
  private readonly maxHello: number;
  /** Start of the first record not yet complete. */
  private offset = 0;
  /** Handshake bytes in complete records. */
  private collected = 0;
  /** Handshake body length once the 4-byte header is known (from complete records). */
  private helloLength = -1;
  /** First 4 bytes of the handshake message from complete records (possibly several). */
  private headerBytes: number[] = [];
  private readonly fragments: Array<[number, number]> = [];
  private final: Result | null = null;

  constructor(limits: ClientHelloLimits = {}) {
    this.maxHello = limits.maxHelloBytes ?? DEFAULT_MAX_CLIENT_HELLO_BYTES;
  }

  feed(buf: Uint8Array): Result {
    if (this.final) return this.final;
    const r = this.walk(buf);
    if (r.status !== 'need-more') this.final = r;
    return r;
  }

  private walk(buf: Uint8Array): Result {
    // Phase 1: walk record headers until the whole handshake message is present.
    for (;;) {
      const offset = this.offset;
      const avail = buf.length - offset;
      if (avail < 1) return NEED_MORE;
      const type = buf[offset]!;
      if (type !== TLS_CONTENT_TYPE_HANDSHAKE) {
        if (offset === 0) {
          // An SSLv2-compatible hello is told apart by its third byte (msg_type 1); wait for
          // it so the decision never changes as bytes arrive.
          if ((type & 0x80) !== 0 && buf.length < 3) return NEED_MORE;
          return (type & 0x80) !== 0 && buf[2] === 1
            ? fail('sslv2-hello', 'SSL 2.0-compatible ClientHello is not supported')
            : fail('not-tls', 'first byte is not a TLS handshake record');
        }
        return fail('unexpected-record', `record type ${type} interleaved with the ClientHello`);
      }
      if (avail >= 2 && buf[offset + 1] !== 3) return fail('bad-record-version', 'record version major is not 3');
      if (avail < TLS_RECORD_HEADER_LENGTH) return NEED_MORE;
      const len = (buf[offset + 3]! << 8) | buf[offset + 4]!;
      if (len === 0) return fail('empty-record', 'zero-length handshake record');
      if (len > TLS_MAX_RECORD_PAYLOAD) return fail('record-too-large', `record length ${len} exceeds 2^14`);
      const start = offset + TLS_RECORD_HEADER_LENGTH;
      const availableInRecord = Math.min(len, buf.length - start);
      // Look at the handshake header as soon as its bytes arrive, to fail fast. Work on a
      // copy: nothing is committed until the record is complete.
      const headerBytes = this.headerBytes.slice();
      for (let i = 0; i < availableInRecord && headerBytes.length < 4; i++) headerBytes.push(buf[start + i]!);
      if (headerBytes.length >= 1 && headerBytes[0] !== TLS_HANDSHAKE_CLIENT_HELLO) {
        return fail('not-client-hello', `handshake type ${headerBytes[0]} is not ClientHello`);
      }
      let helloLength = this.helloLength;
      if (headerBytes.length === 4 && helloLength < 0) {
        helloLength = (headerBytes[1]! << 16) | (headerBytes[2]! << 8) | headerBytes[3]!;
        if (helloLength + 4 > this.maxHello) {
          return fail('hello-too-large', `ClientHello of ${helloLength + 4} bytes exceeds the ${this.maxHello}-byte limit`);
        }
      }
      if (availableInRecord < len) return NEED_MORE;
      this.headerBytes = headerBytes;
      this.helloLength = helloLength;
      this.fragments.push([start, start + len]);
      this.collected += len;
      this.offset = start + len;
      if (helloLength >= 0 && this.collected >= helloLength + 4) break;
    }

    // Phase 2: the message (possibly reassembled from several records).
    const { fragments, collected, helloLength } = this;
    // Bytes after the hello inside its last record would be another handshake message, which a
    // client must not send before the server's reply.
    if (collected !== helloLength + 4) return fail('malformed', 'extra handshake data after ClientHello');
    // One record (the usual case): parsed in place. Several: reassembled into one copy.
    let msg = buf;
    let at = fragments[0]![0];
    if (fragments.length > 1) {
      msg = new Uint8Array(collected);
      at = 0;
      let p = 0;
      for (const [s, e] of fragments) {
        msg.set(buf.subarray(s, e), p);
        p += e - s;
      }
    }
    const parsed = parseClientHelloBody(msg, at + 4, at + 4 + helloLength);
    if (typeof parsed === 'string') return fail(parsed, describe(parsed));
    parsed.records = fragments.length;
    return ok(parsed, this.offset);
  }
}

function describe(code: ClientHelloError): string {
  switch (code) {
    case 'duplicate-extension':
      return 'ClientHello repeats an extension';
    case 'bad-server-name':
      return 'server_name extension is malformed or not an ASCII host name';
    default:
      return 'ClientHello is malformed';
  }
}

/**
 * Extension types seen in the hello being parsed, stamped with that parse's `generation`:
 * duplicate detection without a Set per hello (a hello can list thousands of extensions,
 * so a scan would not do). Parsing is synchronous, so one table serves every call.
 */
const seenStamp = new Uint16Array(65536);
let generation = 0;

/**
 * Parses the ClientHello body, `b[bodyStart, end)` (after the 4-byte handshake header).
 * The body and its extensions are read in place by offset — no view per extension: this runs for every new connection, and views
 * and iterators were a third of what parsing a hello allocated (docs/performance.md).
 */
function parseClientHelloBody(b: Uint8Array, bodyStart: number, end: number): ClientHello | ClientHelloError {
  let p = bodyStart;
  const need = (n: number) => p + n <= end;
  if (!need(2 + 32 + 1)) return 'malformed';
  const legacyVersion = (b[p]! << 8) | b[p + 1]!;
  p += 34;
  const sidLen = b[p]!;
  p += 1;
  if (sidLen > 32 || !need(sidLen)) return 'malformed';
  p += sidLen;
  if (!need(2)) return 'malformed';
  const csLen = (b[p]! << 8) | b[p + 1]!;
  p += 2;
  if (csLen < 2 || csLen % 2 !== 0 || !need(csLen)) return 'malformed';
  p += csLen;
  if (!need(1)) return 'malformed';
  const compLen = b[p]!;
  p += 1;
  if (compLen < 1 || !need(compLen)) return 'malformed';
  p += compLen;
  const hello: ClientHello = { serverName: null, alpn: [], legacyVersion, supportedVersions: [], records: 1 };
  if (p === end) return hello; // no extensions at all (pre-TLS 1.2 clients)
  if (!need(2)) return 'malformed';
  const extLen = (b[p]! << 8) | b[p + 1]!;
  p += 2;
  if (p + extLen !== end) return 'malformed';
  if (++generation === 65536) {
    seenStamp.fill(0);
    generation = 1;
  }
  const stamp = generation;
  while (p < end) {
    if (!need(4)) return 'malformed';
    const type = (b[p]! << 8) | b[p + 1]!;
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    p += 4;
    if (!need(len)) return 'malformed';
    if (seenStamp[type] === stamp) return 'duplicate-extension';
    seenStamp[type] = stamp;
    const start = p;
    p += len;
    if (type === TLS_EXT_SERVER_NAME) {
      const name = parseServerName(b, start, p);
      if (name === undefined) return 'bad-server-name';
      hello.serverName = name;
    } else if (type === TLS_EXT_ALPN) {
      const alpn = parseAlpn(b, start, p);
      if (!alpn) return 'malformed';
      hello.alpn = alpn;
    } else if (type === TLS_EXT_SUPPORTED_VERSIONS) {
      const versions = parseSupportedVersions(b, start, p);
      if (!versions) return 'malformed';
      hello.supportedVersions = versions;
    }
  }
  return hello;
}

/** `len` bytes of `b` from `start` as a latin1 string (no view when `b` is a Buffer). */
function latin1(b: Uint8Array, start: number, len: number): string {
  return Buffer.isBuffer(b) ? b.toString('latin1', start, start + len) : Buffer.from(b.buffer, b.byteOffset + start, len).toString('latin1');
}

/** RFC 6066 §3, over `b[start, end)`. Returns null for an empty list, undefined when malformed. */
function parseServerName(b: Uint8Array, start: number, end: number): string | null | undefined {
  // A server may receive an empty extension_data in ServerHello only; from a client an empty
  // server_name extension is malformed.
  if (end - start < 2) return undefined;
  const listLen = (b[start]! << 8) | b[start + 1]!;
  if (listLen + 2 !== end - start) return undefined;
  let p = start + 2;
  let host: string | null = null;
  while (p < end) {
    if (p + 3 > end) return undefined;
    const nameType = b[p]!;
    const len = (b[p + 1]! << 8) | b[p + 2]!;
    p += 3;
    if (p + len > end) return undefined;
    if (nameType === 0) {
      if (host !== null) return undefined; // at most one host_name
      if (len === 0 || len > 255) return undefined;
      for (let i = p; i < p + len; i++) {
        const c = b[i]!;
        // LDH, dot, and '_' (seen in the wild); anything else cannot name a route.
        const okChar =
          (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x3a;
        if (!okChar) return undefined;
      }
      host = latin1(b, p, len);
    }
    p += len;
  }
  return host;
}

/** RFC 7301 §3.1, over `b[start, end)`. */
function parseAlpn(b: Uint8Array, start: number, end: number): string[] | null {
  if (end - start < 2) return null;
  const listLen = (b[start]! << 8) | b[start + 1]!;
  if (listLen + 2 !== end - start || listLen === 0) return null;
  const out: string[] = [];
  let p = start + 2;
  while (p < end) {
    const len = b[p]!;
    p += 1;
    if (len === 0 || p + len > end) return null;
    out.push(latin1(b, p, len));
    p += len;
  }
  return out;
}

/** RFC 8446 §4.2.1, over `b[start, end)`. */
function parseSupportedVersions(b: Uint8Array, start: number, end: number): number[] | null {
  if (end - start < 1) return null;
  const len = b[start]!;
  if (len + 1 !== end - start || len % 2 !== 0) return null;
  const out: number[] = [];
  for (let p = start + 1; p < end; p += 2) out.push((b[p]! << 8) | b[p + 1]!);
  return out;
}

/** TLS alert descriptions (RFC 8446 §6) the proxy sends before closing a hello it refuses. */
export const TlsAlert = {
  handshakeFailure: 40,
  certificateExpired: 45,
  accessDenied: 49,
  decodeError: 50,
  protocolVersion: 70,
  internalError: 80,
  unrecognizedName: 112,
  noApplicationProtocol: 120,
} as const;

/**
 * A fatal alert record, sendable in plaintext before the handshake completes. OpenSSL-based
 * clients show it as e.g. "tlsv1 unrecognized name", which is the most a client that has
 * not finished TLS can be told.
 */
export function buildTlsAlert(description: number): Buffer {
  return Buffer.from([TLS_CONTENT_TYPE_ALERT, 3, 3, 0, 2, 2, description]);
}
