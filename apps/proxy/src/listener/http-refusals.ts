/**
 * How an `http` listener tells a client why it was refused: a complete plain-text HTTP
 * response with a status that fits the refusal (400 malformed, 404 unknown host, 421 host
 * served on another port, 403 policy, 429 limits, 502 upstream, 503 not ready).
 */
import { buildHttpErrorResponse } from '@switchyard/wire';
import { REFUSALS, refusalMessage, type Audience, type ErrorKind, type RefusalCode } from '../errors.js';

const BY_CODE: Partial<Record<string, number>> = {
  handshake_timeout: 408,
  http_head_too_large: 431,
  http_version_unsupported: 505,
  misdirected: 421,
  route_disabled: 404,
  not_ready: 503,
  shutting_down: 503,
  // Refused at dial time (every endpoint resolves to a forbidden address; the route's egress
  // source is not on this proxy): the host exists, its upstream cannot be reached — a gateway
  // failure like `upstream_unreachable`, not a 404 (the kind, `config`, says whose to fix).
  upstream_forbidden: 502,
  egress_source_unavailable: 502,
};

const BY_KIND: Record<ErrorKind, number> = {
  client: 400,
  config: 404,
  policy: 403,
  ratelimit: 429,
  upstream: 502,
  internal: 503,
  shutdown: 503,
};

export function httpStatusFor(code: RefusalCode): number {
  return BY_CODE[code] ?? BY_KIND[REFUSALS[code].kind];
}

/**
 * `audience`: the route's engine once one matched, else the listener's (errors.ts). On an
 * `http` listener (`plainHttp`) the handshake deadline is the request head's (408).
 */
export function httpRefusal(code: RefusalCode, audience: Audience, plainHttp = false): Buffer {
  return buildHttpErrorResponse(httpStatusFor(code), refusalMessage(code, audience, plainHttp));
}
