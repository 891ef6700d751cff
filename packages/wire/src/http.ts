/**
 * HTTP/1.x request heads, just enough to route a plaintext connection by its `Host`
 * (RFC 9112 §3 request line, §5 field lines; RFC 9110 §7.2 Host). Pure: the proxy feeds the
 * bytes received so far and replays them unchanged to the chosen upstream, which parses the
 * request itself. Lines end with CRLF; a bare LF is refused (RFC 9112 §2.2 allows servers to
 * accept it, but a proxy that reads a message differently from its upstream invites request
 * smuggling, so we accept only the unambiguous form).
 */
import { fail, NEED_MORE, ok, type ParseResult } from './result.js';

/** Default cap on the request line plus header fields (nginx's default buffer is 8 KiB per line). */
export const DEFAULT_MAX_HTTP_HEAD_BYTES = 16 * 1024;
/** Header fields allowed before the head is refused (Node's own default is 2000; 100 is Go's per-key default scale). */
export const MAX_HTTP_HEADER_FIELDS = 200;
/** Longest method we wait for before deciding the bytes are not HTTP. */
const MAX_METHOD_LENGTH = 24;

export interface HttpRequestHead {
  method: string;
  target: string;
  version: '1.0' | '1.1';
  /**
   * Authority to route by: the absolute-form target's authority when present (§3.2.2: it
   * overrides Host), otherwise the single Host field's value; null when neither exists.
   */
  authority: string | null;
  /** Bytes of the head including the blank line. */
  headLength: number;
}

export type HttpParseError = 'not-http' | 'malformed' | 'too-large' | 'bad-version' | 'multiple-hosts' | 'bad-host';

export interface HttpParseOptions {
  maxHeadBytes?: number;
  /**
   * Where to resume looking for the end of the head (bytes before it are known not to
   * contain it). Lets a caller feeding one byte at a time stay linear.
   */
  searchFrom?: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
/** RFC 9110 §5.6.2 tchar. */
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function isTchar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x21 ||
    (c >= 0x23 && c <= 0x27) ||
    c === 0x2a ||
    c === 0x2b ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5e ||
    c === 0x5f ||
    c === 0x60 ||
    c === 0x7c ||
    c === 0x7e
  );
}

function hasControlOrSpace(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return false;
}

export function parseHttpRequestHead(input: Uint8Array, opts: HttpParseOptions = {}): ParseResult<HttpRequestHead, HttpParseError> {
  const max = opts.maxHeadBytes ?? DEFAULT_MAX_HTTP_HEAD_BYTES;
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.length);
  // Fail fast on bytes that cannot start a request (a TLS hello, a PostgreSQL startup packet).
  let i = 0;
  while (i < buf.length && i <= MAX_METHOD_LENGTH && isTchar(buf[i]!)) i++;
  if (i < buf.length && (i === 0 || buf[i] !== 0x20)) return fail('not-http', 'the bytes are not an HTTP/1.x request line');
  if (i > MAX_METHOD_LENGTH) return fail('not-http', 'method too long');
  const from = Math.max(0, (opts.searchFrom ?? 0) - 3);
  const end = buf.indexOf(CRLFCRLF, from);
  if (end < 0) {
    if (buf.length >= max) return fail('too-large', `request head larger than ${max} bytes`);
    return NEED_MORE;
  }
  const headLength = end + 4;
  if (headLength > max) return fail('too-large', `request head larger than ${max} bytes`);
  const text = buf.toString('latin1', 0, end);
  const lines = text.split('\r\n');
  if (lines.some((l) => l.includes('\n') || l.includes('\r'))) return fail('malformed', 'bare CR or LF in the request head');
  const requestLine = lines[0]!;
  const parts = requestLine.split(' ');
  if (parts.length !== 3) return fail('malformed', 'the request line must be "method target HTTP/1.x"');
  const [method, target, proto] = parts as [string, string, string];
  if (!TCHAR.test(method)) return fail('malformed', 'invalid method');
  if (target.length === 0 || hasControlOrSpace(target)) return fail('malformed', 'invalid request target');
  if (proto === 'HTTP/2.0' && method === 'PRI') return fail('bad-version', 'HTTP/2 prior knowledge is not supported on this port');
  if (proto !== 'HTTP/1.1' && proto !== 'HTTP/1.0') return fail('bad-version', `unsupported protocol "${proto.slice(0, 16)}"`);
  if (lines.length - 1 > MAX_HTTP_HEADER_FIELDS) return fail('too-large', `more than ${MAX_HTTP_HEADER_FIELDS} header fields`);
  let host: string | null = null;
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n]!;
    const colon = line.indexOf(':');
    // §5.1: no whitespace between the field name and the colon; obs-fold (§5.2) is refused.
    if (colon <= 0) return fail('malformed', 'header field without a name');
    const name = line.slice(0, colon);
    if (!TCHAR.test(name)) return fail('malformed', 'invalid header field name');
    if (name.length === 4 && name.toLowerCase() === 'host') {
      if (host !== null) return fail('multiple-hosts', 'more than one Host header field');
      host = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    }
  }
  let authority: string | null = host;
  const abs = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(target);
  if (abs) authority = abs[1]!.replace(/^[^@]*@/, '');
  else if (method === 'CONNECT') authority = target;
  if (authority !== null && authority.length > 0 && !/^[A-Za-z0-9.\-_~!$&'()*+,;=:[\]%]+$/.test(authority)) {
    return fail('bad-host', 'invalid characters in Host');
  }
  return ok({ method, target, version: proto === 'HTTP/1.1' ? '1.1' : '1.0', authority: authority === '' ? null : authority, headLength }, headLength);
}

/**
 * The host name part of an authority (`Example.COM:8080` → `example.com`, `[::1]:80` →
 * `::1`), lower-cased, trailing dot dropped; null when empty or the port is not numeric.
 */
export function hostFromAuthority(authority: string): string | null {
  let host = authority;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close < 0) return null;
    const rest = host.slice(close + 1);
    if (rest !== '' && !/^:\d{0,5}$/.test(rest)) return null;
    host = host.slice(1, close);
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) {
      if (!/^\d{0,5}$/.test(host.slice(colon + 1))) return null;
      host = host.slice(0, colon);
    }
  }
  host = host.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host.length > 0 ? host : null;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  421: 'Misdirected Request',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

/** A complete `Connection: close` response with a short plain-text body. */
export function buildHttpErrorResponse(status: number, message: string): Buffer {
  const body = Buffer.from(`${message}\n`, 'utf8');
  const head =
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${body.length}\r\n` +
    'Connection: close\r\n' +
    'Cache-Control: no-store\r\n' +
    'Server: switchyard\r\n\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}
