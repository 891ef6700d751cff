/**
 * PostgreSQL pieces a TLS-terminating proxy needs once it can read the plaintext session:
 *
 *  - `extractEndpointOption`: the Neon convention for clients that cannot send SNI
 *    (old libpq, `sslsni=0`, host given as an IP): the route travels in the startup
 *    parameter `options` as `endpoint=<name>`, which must be removed before the startup
 *    message reaches PostgreSQL (it would reject an unknown command-line switch).
 *  - `BackendKeyRewriter`: rewrites the BackendKeyData ('K') the server sends during startup
 *    so the client holds a key minted by the proxy. A CancelRequest arrives on a new
 *    connection, often in plaintext and without SNI; the proxy maps the key it minted back to
 *    the backend that owns the query. Everything after the first ReadyForQuery is passed on
 *    untouched.
 *
 * References: https://www.postgresql.org/docs/current/protocol-flow.html (Canceling
 * Requests in Progress; protocol 3.2 variable-length keys up to 256 bytes),
 * https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-OPTIONS
 * (options: space-separated switches, backslash escapes), and Neon's
 * https://neon.com/docs/connect/connection-errors#the-endpoint-id-is-not-specified.
 */
import { PG_MAX_CANCEL_KEY_LENGTH } from './postgres.js';
import { fail } from './result.js';

export interface EndpointOption {
  /** The endpoint named in `options`, or null when none is. */
  endpoint: string | null;
  /** `options` without the endpoint switch; null when nothing is left. */
  rest: string | null;
}

const ENDPOINT_SWITCH = /^(?:--)?endpoint=(.*)$/s;

/**
 * Finds `endpoint=<name>` (or `--endpoint=<name>`) among the whitespace-separated switches of
 * a libpq `options` value. Backslash escapes are honoured when splitting and kept verbatim in
 * the remainder. Two different endpoints are an error.
 */
export function extractEndpointOption(
  options: string | undefined,
): { status: 'ok'; value: EndpointOption } | { status: 'error'; code: 'conflicting-endpoints'; message: string } {
  if (options === undefined || options === '') return { status: 'ok', value: { endpoint: null, rest: null } };
  const kept: string[] = [];
  let endpoint: string | null = null;
  for (const raw of splitOptions(options)) {
    const m = ENDPOINT_SWITCH.exec(unescape(raw));
    if (!m) {
      kept.push(raw);
      continue;
    }
    const value = m[1]!;
    if (endpoint !== null && endpoint !== value) {
      return fail('conflicting-endpoints', `options name two endpoints: ${endpoint} and ${value}`);
    }
    endpoint = value;
  }
  return { status: 'ok', value: { endpoint, rest: kept.length > 0 ? kept.join(' ') : null } };
}

/** Splits on unescaped whitespace, keeping escapes in the pieces. */
function splitOptions(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\' && i + 1 < s.length) {
      cur += ch + s[i + 1]!;
      i++;
    } else if (/\s/.test(ch)) {
      if (cur) out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (cur) out.push(cur);
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/gs, '$1');
}

export interface BackendKey {
  processId: number;
  secretKey: Buffer;
}

export type RewriteResult =
  /** Bytes to send to the client now (possibly empty). */
  | { status: 'ok'; out: Buffer[]; done: boolean }
  | { status: 'error'; code: 'bad-length' | 'bad-key'; message: string };

/** Startup-phase backend messages are small; anything bigger is not PostgreSQL. */
const MAX_STARTUP_MESSAGE = 1 << 20;

/**
 * Push state machine over the server→client byte stream during startup. Feed it chunks; it
 * returns the bytes to forward. Complete messages are forwarded as they are parsed; only a
 * message cut by a chunk boundary is held back. After ReadyForQuery (`done`), the caller
 * stops feeding and pipes the rest directly; the bytes after 'Z' in the last chunk are part
 * of `out`.
 */
export class BackendKeyRewriter {
  private held: Buffer = Buffer.alloc(0);
  private finished = false;

  constructor(private readonly mint: (original: BackendKey) => BackendKey) {}

  get done(): boolean {
    return this.finished;
  }

  feed(chunk: Buffer): RewriteResult {
    if (this.finished) return { status: 'ok', out: [chunk], done: true };
    const buf = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    const out: Buffer[] = [];
    let p = 0;
    let from = 0; // start of bytes not yet emitted
    while (buf.length - p >= 5) {
      const type = buf[p]!;
      const len = buf.readInt32BE(p + 1);
      if (len < 4 || len > MAX_STARTUP_MESSAGE) return fail('bad-length', `backend message length ${len} out of range`);
      if (buf.length - p < 1 + len) break;
      if (type === 0x4b /* K */) {
        const keyLen = len - 8;
        if (keyLen < 4 || keyLen > PG_MAX_CANCEL_KEY_LENGTH) return fail('bad-key', `BackendKeyData key of ${keyLen} bytes`);
        if (p > from) out.push(buf.subarray(from, p));
        const original: BackendKey = { processId: buf.readInt32BE(p + 5), secretKey: Buffer.from(buf.subarray(p + 9, p + 1 + len)) };
        out.push(buildBackendKeyData(this.mint(original)));
        from = p + 1 + len;
      }
      p += 1 + len;
      if (type === 0x5a /* Z */) {
        this.finished = true;
        out.push(buf.subarray(from));
        this.held = Buffer.alloc(0);
        return { status: 'ok', out, done: true };
      }
    }
    if (p > from) out.push(buf.subarray(from, p));
    this.held = Buffer.from(buf.subarray(p));
    return { status: 'ok', out, done: false };
  }
}

export function buildBackendKeyData(key: BackendKey): Buffer {
  const b = Buffer.alloc(9 + key.secretKey.length);
  b.write('K', 0, 'latin1');
  b.writeInt32BE(8 + key.secretKey.length, 1);
  b.writeInt32BE(key.processId, 5);
  key.secretKey.copy(b, 9);
  return b;
}

export function buildReadyForQuery(status: 'I' | 'T' | 'E' = 'I'): Buffer {
  const b = Buffer.alloc(6);
  b.write('Z', 0, 'latin1');
  b.writeInt32BE(5, 1);
  b.write(status, 5, 'latin1');
  return b;
}

/** A backend message of any type, for fixtures. */
export function buildBackendMessage(type: string, body: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(5 + body.length);
  b.write(type, 0, 'latin1');
  b.writeInt32BE(4 + body.length, 1);
  Buffer.from(body).copy(b, 5);
  return b;
}
