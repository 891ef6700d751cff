/**
 * Maps every failure to the one error shape. Domain errors (AppError) keep their code;
 * schema validation names the offending field; Prisma's unique and not-found errors become
 * 409 and 404; anything else is logged with the request id and masked as SY_INTERNAL.
 */
import { Prisma } from '@switchyard/db';
import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, ERRORS, errorBody, type ErrorCode, type ErrorDetail } from '../lib/errors.js';
import { FORMAT_MESSAGES } from '../lib/validation.js';

interface AjvError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

const TYPE_KEYWORDS = new Set(['type', 'const', 'enum']);

/**
 * A value that fails a union (`X | null`, `'owner' | 'admin'`) makes Ajv report every branch
 * and the union itself. Keep what helps the caller: the errors inside the value or of the
 * branch whose type it has (a bad field of an object that may also be null; a number below
 * the minimum of an integer that may also be null); otherwise one error saying what the union
 * accepts. Innermost unions first.
 */
function simplifyUnions(errors: AjvError[]): AjvError[] {
  let out = errors;
  const unions = errors.filter((e) => e.keyword === 'anyOf').sort((a, b) => b.schemaPath.length - a.schemaPath.length);
  for (const u of unions) {
    const branch = out.filter((e) => e.schemaPath.startsWith(`${u.schemaPath}/`));
    if (branch.length === 0) continue;
    const telling = branch.filter((e) => e.instancePath !== u.instancePath || !TYPE_KEYWORDS.has(e.keyword));
    if (telling.length > 0) {
      out = out.filter((e) => e !== u && (!branch.includes(e) || telling.includes(e)));
      continue;
    }
    const values: string[] = [];
    const types: string[] = [];
    for (const e of branch) {
      if (e.keyword === 'const') values.push(JSON.stringify(e.params.allowedValue));
      else if (e.keyword === 'enum') values.push(...(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)));
      else types.push(String(e.params.type));
    }
    const accepted = [values.length ? `one of ${values.join(', ')}` : null, ...types].filter(Boolean).join(' or ');
    const merged: AjvError = { ...u, message: `must be ${accepted}` };
    out = out.flatMap((e) => (e === u ? [merged] : branch.includes(e) ? [] : [e]));
  }
  return out;
}

function validationDetails(context: string, errors: AjvError[]): ErrorDetail[] {
  return simplifyUnions(errors).map((e) => {
    let path = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
    if (e.keyword === 'required') path = [path, e.params.missingProperty].filter(Boolean).join('.');
    if (e.keyword === 'additionalProperties') path = [path, e.params.additionalProperty].filter(Boolean).join('.');
    const field = path ? `${context}.${path}` : context;
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') message = 'is not a known field';
    if (e.keyword === 'required') message = 'is required';
    if (e.keyword === 'enum') message = `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    const format = e.keyword === 'format' && typeof e.params.format === 'string' ? FORMAT_MESSAGES[e.params.format] : undefined;
    if (format) {
      message = format.message;
    }
    return { field, message };
  });
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'SY_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'SY_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'SY_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'SY_BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'SY_BAD_REQUEST',
};

/**
 * First path segments of the dashboard's pages (apps/web/src/app/router.tsx: the children of
 * its root and `authed` routes; error-handler.int.test.ts fails when they differ).
 */
export const DASHBOARD_SECTIONS: readonly string[] = ['login', 'account', 't', 'admin'];

/**
 * Whether a path not served otherwise is a page of the dashboard, answered with its
 * index.html. Only its own sections: a scraper's `GET /metrics`, `/healthz/x` or a mistyped
 * API path must get a 404 it can read, not the dashboard's HTML with 200. Paths with a file
 * extension (a missing /assets/x.js after a deploy) stay 404 too: serving the page there would
 * make the browser run HTML as a script.
 */
export function isDashboardPath(path: string): boolean {
  const first = path.split('/')[1] ?? '';
  return DASHBOARD_SECTIONS.includes(first) && !/\.[A-Za-z0-9]+$/.test(path);
}

/**
 * PostgreSQL aborted the transaction for a concurrent one — a deadlock (40P01) or a
 * serialization failure (40001): nothing was written, and the same request may simply be
 * retried. Prisma reports it as P2034, or, from a raw query, as P2010 naming the driver's code.
 */
export function isWriteConflict(err: Prisma.PrismaClientKnownRequestError): boolean {
  if (err.code === 'P2034') return true;
  if (err.code !== 'P2010') return false;
  const cause = (err.meta as { driverAdapterError?: { cause?: { originalCode?: string; kind?: string } } } | undefined)?.driverAdapterError?.cause;
  return cause?.kind === 'TransactionWriteConflict' || cause?.originalCode === '40P01' || cause?.originalCode === '40001';
}

export const errorHandlerPlugin = fp<{ serveSpa?: boolean }>(async (app: FastifyInstance, opts) => {
  app.setErrorHandler((err: FastifyError & { validationContext?: string }, request, reply) => {
    const rid = request.id;
    if (err instanceof AppError) {
      if (err.headers) reply.headers(err.headers);
      return reply.status(err.statusCode).send(errorBody(err.code, err.message, rid, err.details));
    }
    if (err.validation) {
      const details = validationDetails(err.validationContext ?? 'body', err.validation);
      const first = details[0]!;
      return reply.status(400).send(errorBody('SY_VALIDATION', `${first.field} ${first.message}`, rid, details));
    }
    if (err.code && FASTIFY_CODES[err.code]) {
      const code = FASTIFY_CODES[err.code]!;
      const message =
        err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.name === 'SyntaxError'
          ? 'The request body is not valid JSON'
          : code === 'SY_UNSUPPORTED_MEDIA_TYPE'
            ? `${ERRORS.SY_UNSUPPORTED_MEDIA_TYPE.message} (got ${JSON.stringify(request.headers['content-type'] ?? '')})`
            : err.message;
      return reply.status(err.statusCode ?? 400).send(errorBody(code, message, rid));
    }
    if (err instanceof SyntaxError && err.statusCode === 400) {
      return reply.status(400).send(errorBody('SY_BAD_REQUEST', 'The request body is not valid JSON', rid));
    }
    if (err instanceof Prisma.PrismaClientKnownRequestError) {
      if (err.code === 'P2002') return reply.status(409).send(errorBody('SY_CONFLICT', 'A resource with these unique fields already exists', rid));
      if (err.code === 'P2025') return reply.status(404).send(errorBody('SY_NOT_FOUND', 'Not found', rid));
      if (isWriteConflict(err)) {
        request.log.info({ code: err.code }, 'write conflict with a concurrent transaction');
        return reply.status(409).send(errorBody('SY_CONFLICT', 'A concurrent change conflicted with this one and it was rolled back; retry it', rid));
      }
      // P2028: a transaction could not start in time (pool exhausted under load).
      if (err.code === 'P2028' || err.code === 'P2024') {
        request.log.warn({ err }, 'database busy');
        return reply.status(503).header('retry-after', '1').send(errorBody('SY_UNAVAILABLE', 'The control database is busy; retry shortly', rid));
      }
    }
    if (err.statusCode === 429) return reply.status(429).send(errorBody('SY_RATE_LIMITED', err.message, rid));
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.status(err.statusCode).send(errorBody('SY_BAD_REQUEST', err.message, rid));
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send(errorBody('SY_INTERNAL', 'Internal server error', rid));
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    // Deep links into the dashboard (e.g. /t/acme/databases) get its index.html; anything else
    // is the API's 404 (see isDashboardPath).
    if (opts.serveSpa && request.method === 'GET' && isDashboardPath(path)) {
      return reply.type('text/html').sendFile('index.html');
    }
    reply.status(404).send(errorBody('SY_NOT_FOUND', `Route ${request.method} ${request.url.split('?')[0]} not found`, request.id));
  });
});
