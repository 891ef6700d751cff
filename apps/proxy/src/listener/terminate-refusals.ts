/**
 * Refusals of terminate-mode routes answered in the client's own protocol, inside TLS
 * completed with the route's certificate, rather than with a TLS alert its client can only
 * print as "alert internal error" (docs/proxy.md "Refusals inside TLS (terminate mode)"):
 *
 * - HTTP clients: the plain-text response of `http` listeners (403, 404, 429, 502, 503). A
 *   client is known to speak HTTP/1.1 when it offered ALPN `http/1.1` — curl, browsers, Go
 *   clients do — whatever the engine: HTTPS apps are `tls` routes on this listener (the API
 *   and the controller never put an `http` route there). An `http` route's client also when
 *   it offered no ALPN;
 * - `kubernetes-api`: the same statuses with a `Status` object, as an API server writes one
 *   (kubectl: `Error from server (ServiceUnavailable): <message>`) — except that a disabled
 *   route is 403 Forbidden (its owner refuses access), not 404: client-go's discovery takes a
 *   404 on `/api` or `/apis` for "no such API group" and prints "the server could not find
 *   the requested resource". Discovery requests (`kubernetesDiscovery`) get the message as
 *   text/plain instead of a Status: client-go reads them with `Result.Raw()`, which never
 *   decodes a Status and shows only a text body ("unknown" otherwise);
 * - `redis`: a RESP error, as redis-server itself refuses a client over `maxclients`
 *   (redis-cli: `ERR Switchyard: too many connections to this Redis database`).
 *
 * Anything else keeps the alert: a `tls` or `mongodb` client that did not offer `http/1.1`
 * (its protocol is unknown), an h2-only HTTP client (HTTP/2 framing is not written here).
 * Messages come from the catalogue (errors.ts), worded for the route's engine (no "database
 * server" to curl or kubectl), and never name an address.
 */
import type { Engine } from '@switchyard/core';
import { buildHttpErrorResponse } from '@switchyard/wire';
import { refusalMessage, type RefusalCode } from '../errors.js';
import { httpRefusal, httpStatusFor } from './http-refusals.js';

export interface TerminateAnswer {
  /** ALPN protocol to select, or null (select none). */
  alpn: string | null;
  /** The response, or how to make it from the client's first bytes (its request). */
  response: Buffer | ((request: Buffer) => Buffer);
}

/** Kubernetes `StatusReason` of each status a refusal can have (apimachinery meta/v1 types.go). */
const KUBERNETES: Record<number, [text: string, reason: string]> = {
  400: ['Bad Request', 'BadRequest'],
  403: ['Forbidden', 'Forbidden'],
  404: ['Not Found', 'NotFound'],
  408: ['Request Timeout', 'Timeout'],
  429: ['Too Many Requests', 'TooManyRequests'],
  502: ['Bad Gateway', 'ServiceUnavailable'],
  503: ['Service Unavailable', 'ServiceUnavailable'],
};

/** The answer for `code` to a client of a terminate-mode route of `engine`, or null (send the alert). */
export function terminateAnswer(code: RefusalCode, engine: Engine, clientAlpn: readonly string[]): TerminateAnswer | null {
  const offersHttp1 = clientAlpn.includes('http/1.1');
  switch (engine) {
    case 'http':
    case 'kubernetes-api': {
      if (clientAlpn.length > 0 && !offersHttp1) return null;
      const alpn = offersHttp1 ? 'http/1.1' : null;
      return { alpn, response: engine === 'http' ? httpRefusal(code, 'http') : (request) => kubernetesRefusal(code, request) };
    }
    case 'tls':
      return offersHttp1 ? { alpn: 'http/1.1', response: httpRefusal(code, 'tls') } : null;
    case 'redis':
      return { alpn: null, response: redisRefusal(code) };
    default:
      return null;
  }
}

/**
 * A RESP simple error (https://redis.io/docs/latest/develop/reference/protocol-spec/#simple-errors),
 * as redis-server refuses a client over `maxclients`; redis-cli prints `(error) ERR <message>`.
 * One line, so the message must hold no CR or LF (the catalogue's never do). Also what a
 * plaintext Redis command on a `tls` listener reads (`redis_on_tls_port`, connection.ts).
 */
export function redisRefusal(code: RefusalCode): Buffer {
  return Buffer.from(`-ERR ${refusalMessage(code, 'redis').replace(/[\r\n]+/g, ' ')}\r\n`, 'utf8');
}

/**
 * Paths client-go's discovery reads (`kubectl get`, `kubectl version`, a cold cache):
 * `/version`, `/api`, `/apis`, and the group/version lists below them (`/api/v1`,
 * `/apis/apps`, `/apis/apps/v1`), with any query (`?timeout=32s`).
 */
const DISCOVERY = /^\/(?:version|api(?:\/[^/?]+)?|apis(?:\/[^/?]+){0,2})\/?(?:\?|$)/;

/** True when `request` (the client's first bytes) starts a GET of a discovery path. */
export function kubernetesDiscovery(request: Buffer): boolean {
  // The request line is in the first segment (a few dozen bytes); no line: not discovery.
  const end = request.indexOf('\r\n');
  if (end < 0) return false;
  const [method, target] = request.toString('latin1', 0, Math.min(end, 2048)).split(' ');
  return method === 'GET' && target !== undefined && DISCOVERY.test(target);
}

function kubernetesRefusal(code: RefusalCode, request: Buffer): Buffer {
  // 403 rather than 404 for a disabled route: see the header.
  const status = code === 'route_disabled' ? 403 : httpStatusFor(code);
  const message = refusalMessage(code, 'kubernetes-api');
  if (kubernetesDiscovery(request)) return buildHttpErrorResponse(status, message);
  const [text, reason] = KUBERNETES[status] ?? ['Error', 'InternalError'];
  const body = Buffer.from(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code: status }), 'utf8');
  const head =
    `HTTP/1.1 ${status} ${text}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${body.length}\r\n` +
    'Connection: close\r\n' +
    'Cache-Control: no-store\r\n' +
    'Server: switchyard\r\n\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}
