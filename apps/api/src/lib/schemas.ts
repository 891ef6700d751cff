/**
 * Schema pieces shared by several modules (TypeBox → JSON Schema → validation + OpenAPI).
 */
import { SLUG_PATTERN, MAX_SLUG_LENGTH } from '@switchyard/core';
import { Type, type TSchema } from 'typebox';
import { ERRORS } from './errors.js';

export const Slug = (description: string) =>
  Type.String({ pattern: SLUG_PATTERN, minLength: 1, maxLength: MAX_SLUG_LENGTH, description, examples: ['acme'] });

/**
 * A name people read in lists, menus and the audit trail (tenant, user, token): not blank.
 * Only spaces would show as an empty row that cannot be told apart or searched for.
 */
export const DisplayName = (maxLength: number, examples: string[]) => Type.String({ format: 'display-name', minLength: 1, maxLength, examples });

export const TenantParams = Type.Object({ tenant: Slug('Tenant slug') }, { additionalProperties: false });
export const DatabaseParams = Type.Object(
  { tenant: Slug('Tenant slug'), database: Slug('Database name') },
  { additionalProperties: false },
);

export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.Union(Object.keys(ERRORS).map((c) => Type.Literal(c))),
    error: Type.String(),
    message: Type.String(),
    requestId: Type.String(),
    details: Type.Optional(Type.Array(Type.Object({ field: Type.Optional(Type.String()), message: Type.String() }, { additionalProperties: true }))),
  },
  {
    $id: 'ErrorResponse',
    description: 'Every error has this shape; `code` is stable (see docs/api-errors.md).',
    examples: [
      { statusCode: 404, code: 'SY_DATABASE_NOT_FOUND', error: 'Not Found', message: 'Database not found', requestId: 'req-1f3a' },
    ],
  },
);

/** `{ items: [...] }` list responses, documented with one example item. */
export function ListOf<T extends TSchema>(item: T, example: unknown) {
  return Type.Object({ items: Type.Array(item) }, { examples: [{ items: [example] }] });
}

/** Abbreviated PEM for documentation examples. */
export const EXAMPLE_PEM = '-----BEGIN CERTIFICATE-----\nMIIDgzCCAmugAwIBAgIQKfxp1GOHlYCz…\n-----END CERTIFICATE-----\n';

/** Standard error responses for a route's OpenAPI description. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const s of [400, 401, ...statuses]) out[s] = Type.Ref('ErrorResponse');
  return out;
}

export const Timestamp = Type.String({ format: 'date-time' });

/** Input schemas: every string has a length limit (bad-input.int.test.ts checks it). */
export const UuidInput = (description?: string) => Type.String({ format: 'uuid', maxLength: 36, ...(description ? { description } : {}) });
export const TimestampInput = (description?: string) =>
  Type.String({ format: 'date-time', maxLength: 35, ...(description ? { description } : {}), examples: ['2026-11-22T08:00:00Z'] });
