/**
 * The API's JSON body parser: Fastify's own (prototype-poisoning checks included), with two
 * differences.
 *   - An empty body is no body. Clients and fetch wrappers send `Content-Type:
 *     application/json` on every call; a DELETE or a body-less POST (logout, revoke) with it
 *     and no body got 400 "Body cannot be empty". Routes that take a body still refuse it:
 *     their schema says `body` is required (SY_VALIDATION on `body`).
 *   - Only UTF-8 (RFC 8259 §8.1: JSON exchanged between systems is UTF-8). Another declared
 *     charset was decoded as UTF-8 anyway and failed as invalid JSON, or worse, parsed into
 *     different text; now it is 415 naming the charset.
 * And an operation that takes no body refuses one (`refuseUnexpectedBodies`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from './errors.js';

/** The `charset` parameter of a Content-Type header (unquoted, as sent), or null. */
export function charsetOf(contentType: string | undefined): string | null {
  if (!contentType) return null;
  for (const param of contentType.split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    return param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return null;
}

export function registerJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const charset = charsetOf(req.headers['content-type']);
    if (charset !== null && !/^utf-?8$/i.test(charset)) {
      done(new AppError('SY_UNSUPPORTED_MEDIA_TYPE', `JSON must be UTF-8; got charset=${charset} (send Content-Type: application/json or application/json; charset=utf-8)`), undefined);
      return;
    }
    if (body === '') {
      done(null, undefined);
      return;
    }
    // Fastify's parser answers through `done` (it returns nothing).
    void parse(req, body as string, done);
  });
}

const NO_BODY = 'must be absent: this operation takes no request body';

/** Whether a request to an operation without a body schema carries one anyway. */
function hasUnexpectedBody(req: FastifyRequest): boolean {
  // Fastify does not read the body of a GET or HEAD: its presence is in the headers.
  if (req.method === 'GET' || req.method === 'HEAD') {
    const length = req.headers['content-length'];
    return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  }
  const body: unknown = req.body;
  if (body === undefined) return false;
  // `{}` says nothing: some clients send it with every DELETE.
  return body === null || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length > 0;
}

/**
 * An operation whose schema declares no body refuses one (400 SY_VALIDATION on `body`), as a
 * body with an unknown field is refused: `DELETE …/tenants/acme` with `{"dryRun": true}`, or
 * filters sent in the body of a GET, were silently ignored and the request acted as if they
 * had not been sent. No body, an empty one and `{}` are fine.
 */
export function refuseUnexpectedBodies(app: FastifyInstance): void {
  app.addHook('preValidation', async (req) => {
    // Unknown routes answer 404 whatever they carry.
    if (!req.routeOptions.url || req.routeOptions.schema?.body) return;
    if (hasUnexpectedBody(req)) throw new AppError('SY_VALIDATION', `body ${NO_BODY}`, [{ field: 'body', message: NO_BODY }]);
  });
}
