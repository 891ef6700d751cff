/**
 * PostgreSQL frontend/backend protocol pieces the proxy needs before it hands a connection
 * over: the untyped startup-phase packets a client may open with, and the ErrorResponse
 * it sends back when it refuses one.
 *
 * References (PostgreSQL source, REL_18):
 *  - src/include/libpq/pqcomm.h: NEGOTIATE_SSL_CODE (1234,5679), NEGOTIATE_GSS_CODE
 *    (1234,5680), CANCEL_REQUEST_CODE (1234,5678), PG_PROTOCOL(3,0) = 196608,
 *    MAX_STARTUP_PACKET_LENGTH = 10000 (bytes after the length word).
 *  - src/backend/tcop/backend_startup.c ProcessStartupPacket(): length checks, "received
 *    unencrypted data after SSL request" (CVE-2021-23222: bytes that arrive together with
 *    the SSLRequest must not be trusted).
 *  - https://www.postgresql.org/docs/current/protocol-message-formats.html
 *  - https://www.postgresql.org/docs/current/protocol-error-fields.html
 */
import { fail, NEED_MORE, ok, type ParseResult } from './result.js';

const code = (major: number, minor: number) => (major << 16) | minor;
export const PG_SSL_REQUEST_CODE = code(1234, 5679); // 80877103
export const PG_GSSENC_REQUEST_CODE = code(1234, 5680); // 80877104
export const PG_CANCEL_REQUEST_CODE = code(1234, 5678); // 80877102
export const PG_PROTOCOL_3_0 = code(3, 0); // 196608
export const PG_PROTOCOL_3_2 = code(3, 2); // 196610 (PostgreSQL 18)
/**
 * The longest startup packet, length word included: pqcomm.h MAX_STARTUP_PACKET_LENGTH
 * (10000) bounds what follows the length word (ProcessStartupPacket does `len -= 4` before
 * comparing), so PostgreSQL accepts 10004 bytes in all.
 */
export const PG_MAX_STARTUP_PACKET_LENGTH = 10000 + 4;
/** Protocol 3.2 allows cancel keys of up to 256 bytes (PostgreSQL 18). */
export const PG_MAX_CANCEL_KEY_LENGTH = 256;

export type StartupPacket =
  | { kind: 'ssl-request' }
  | { kind: 'gssenc-request' }
  | { kind: 'cancel-request'; processId: number; secretKey: Buffer }
  | { kind: 'startup'; protocolVersion: number; parameters: Record<string, string> };

export type StartupPacketError = 'bad-length' | 'too-long' | 'unsupported-protocol' | 'malformed';

/**
 * Parses one startup-phase packet: Int32 length (including itself), Int32 code, payload.
 * Fails as soon as the length word is known to be impossible, before waiting for the body.
 */
export function parseStartupPacket(buf: Uint8Array): ParseResult<StartupPacket, StartupPacketError> {
  if (buf.length < 4) return NEED_MORE;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const len = view.getInt32(0);
  if (len < 8) return fail('bad-length', `startup packet length ${len} is below 8`);
  if (len > PG_MAX_STARTUP_PACKET_LENGTH) return fail('too-long', `startup packet length ${len} exceeds ${PG_MAX_STARTUP_PACKET_LENGTH}`);
  if (buf.length < 8) return NEED_MORE;
  const c = view.getInt32(4);
  // Special codes have fixed lengths; check them before waiting for a body.
  if (c === PG_SSL_REQUEST_CODE || c === PG_GSSENC_REQUEST_CODE) {
    if (len !== 8) return fail('bad-length', 'SSLRequest/GSSENCRequest must be 8 bytes');
    return ok(c === PG_SSL_REQUEST_CODE ? { kind: 'ssl-request' } : { kind: 'gssenc-request' }, 8);
  }
  if (c === PG_CANCEL_REQUEST_CODE) {
    if (len < 16 || len > 12 + PG_MAX_CANCEL_KEY_LENGTH) return fail('bad-length', 'CancelRequest length out of range');
    if (buf.length < len) return NEED_MORE;
    return ok(
      { kind: 'cancel-request', processId: view.getInt32(8), secretKey: Buffer.from(buf.subarray(12, len)) },
      len,
    );
  }
  const major = c >>> 16;
  if (major !== 3) return fail('unsupported-protocol', `frontend protocol ${major}.${c & 0xffff} is not supported`);
  if (buf.length < len) return NEED_MORE;
  const params = parseParameters(buf.subarray(8, len));
  if (!params) return fail('malformed', 'startup parameters are not NUL-terminated name/value pairs');
  return ok({ kind: 'startup', protocolVersion: c, parameters: params }, len);
}

function parseParameters(b: Uint8Array): Record<string, string> | null {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  let p = 0;
  const str = (): string | null => {
    const end = b.indexOf(0, p);
    if (end < 0) return null;
    const s = Buffer.from(b.buffer, b.byteOffset + p, end - p).toString('utf8');
    p = end + 1;
    return s;
  };
  for (;;) {
    if (p >= b.length) return null; // missing final terminator
    if (b[p] === 0) return p === b.length - 1 ? out : null;
    const name = str();
    if (name === null) return null;
    const value = str();
    if (value === null) return null;
    out[name] = value;
  }
}

/** The single byte a server answers an SSLRequest / GSSENCRequest with. */
export const PG_SSL_ACCEPT = Buffer.from('S');
export const PG_SSL_REFUSE = Buffer.from('N');

export function buildSslRequest(): Buffer {
  const b = Buffer.alloc(8);
  b.writeInt32BE(8, 0);
  b.writeInt32BE(PG_SSL_REQUEST_CODE, 4);
  return b;
}

export function buildGssEncRequest(): Buffer {
  const b = Buffer.alloc(8);
  b.writeInt32BE(8, 0);
  b.writeInt32BE(PG_GSSENC_REQUEST_CODE, 4);
  return b;
}

export function buildCancelRequest(processId: number, secretKey: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + secretKey.length);
  b.writeInt32BE(b.length, 0);
  b.writeInt32BE(PG_CANCEL_REQUEST_CODE, 4);
  b.writeInt32BE(processId, 8);
  Buffer.from(secretKey).copy(b, 12);
  return b;
}

export function buildStartupMessage(parameters: Record<string, string>, protocolVersion = PG_PROTOCOL_3_0): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(parameters)) parts.push(Buffer.from(`${k}\0${v}\0`, 'utf8'));
  parts.push(Buffer.from([0]));
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(protocolVersion, 4);
  return Buffer.concat([head, body]);
}

/**
 * A StartupMessage (`packet`: one whole, well-formed message, as parsed) with parameter `name`
 * set to `value`, or left out when `value` is null; every other pair is copied byte for byte.
 * Rebuilding the message from decoded strings would turn bytes that are not UTF-8 (a Latin-1
 * user or database name of a LATIN1 server) into U+FFFD; this keeps them.
 */
export function withStartupParameter(packet: Buffer, name: string, value: string | null): Buffer {
  const key = Buffer.from(name, 'utf8');
  const parts: Buffer[] = [packet.subarray(0, 8)];
  let at = 8;
  let found = false;
  // Pairs of NUL-terminated strings until the terminating NUL (the last byte).
  while (at < packet.length - 1 && packet[at] !== 0) {
    const keyEnd = packet.indexOf(0, at);
    const valueEnd = packet.indexOf(0, keyEnd + 1);
    if (keyEnd < 0 || valueEnd < 0) throw new RangeError('not a well-formed StartupMessage');
    if (packet.subarray(at, keyEnd).equals(key)) {
      found = true;
      if (value !== null) parts.push(packet.subarray(at, keyEnd + 1), Buffer.from(`${value}\0`, 'utf8'));
    } else {
      parts.push(packet.subarray(at, valueEnd + 1));
    }
    at = valueEnd + 1;
  }
  if (!found && value !== null) parts.push(Buffer.from(`${name}\0${value}\0`, 'utf8'));
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  out.writeInt32BE(out.length, 0);
  return out;
}

export interface PgError {
  /** FATAL for refused connections. */
  severity?: 'ERROR' | 'FATAL';
  /** Five-character SQLSTATE. */
  sqlstate: string;
  message: string;
  detail?: string;
  hint?: string;
}

/**
 * SQLSTATEs the proxy uses (https://www.postgresql.org/docs/current/errcodes-appendix.html).
 */
export const SqlState = {
  /** 08001 sqlclient_unable_to_establish_sqlconnection */
  unableToConnect: '08001',
  /** 08004 sqlserver_rejected_establishment_of_sqlconnection */
  rejectedConnection: '08004',
  /** 08P01 protocol_violation */
  protocolViolation: '08P01',
  /** 28000 invalid_authorization_specification */
  invalidAuthorization: '28000',
  /** 3D000 invalid_catalog_name (the hostname names no database) */
  unknownDatabase: '3D000',
  /** 53300 too_many_connections */
  tooManyConnections: '53300',
  /** 57P01 admin_shutdown */
  adminShutdown: '57P01',
  /** 57P03 cannot_connect_now */
  cannotConnectNow: '57P03',
  /** 58000 system_error */
  systemError: '58000',
} as const;

/** ErrorResponse ('E'): fields S, V, C, M, D, H, each NUL-terminated, then a final NUL. */
export function buildErrorResponse(err: PgError): Buffer {
  const severity = err.severity ?? 'FATAL';
  const fields: Array<[string, string]> = [
    ['S', severity],
    ['V', severity],
    ['C', err.sqlstate],
    ['M', err.message],
  ];
  if (err.detail) fields.push(['D', err.detail]);
  if (err.hint) fields.push(['H', err.hint]);
  const body = Buffer.concat([...fields.map(([k, v]) => Buffer.from(`${k}${v}\0`, 'utf8')), Buffer.from([0])]);
  const head = Buffer.alloc(5);
  head.write('E', 0, 'latin1');
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

export interface BackendMessage {
  type: string;
  body: Buffer;
}

/** Splits backend messages ('X' + Int32 length + body) off the front of a buffer. */
export function parseBackendMessage(buf: Uint8Array, maxLength = 1 << 24): ParseResult<BackendMessage, 'bad-length'> {
  if (buf.length < 5) return NEED_MORE;
  const len = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getInt32(1);
  if (len < 4 || len > maxLength) return fail('bad-length', `message length ${len} out of range`);
  if (buf.length < 1 + len) return NEED_MORE;
  return ok({ type: String.fromCharCode(buf[0]!), body: Buffer.from(buf.subarray(5, 1 + len)) }, 1 + len);
}

/** Reads the fields of an ErrorResponse/NoticeResponse body. */
export function parseErrorFields(body: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let p = 0;
  while (p < body.length && body[p] !== 0) {
    const key = String.fromCharCode(body[p]!);
    const end = body.indexOf(0, p + 1);
    if (end < 0) break;
    out[key] = Buffer.from(body.subarray(p + 1, end)).toString('utf8');
    p = end + 1;
  }
  return out;
}
