/**
 * Keyset pagination, the one convention of every paged list (events, audit trail, tenants):
 * `?limit=&cursor=` in, `{ items, nextCursor }` out. The cursor is opaque to clients: the sort
 * key of the last row returned, base64url-encoded; the next page is the rows after it in the
 * list's order (`WHERE key > cursor`, no OFFSET), so a page costs the same at any depth and a
 * row inserted or deleted meanwhile neither repeats nor skips another. `nextCursor` is null on
 * the last page. A cursor the API never issued is a 400 on `querystring.cursor`, never a 500.
 */
import { Type } from 'typebox';
import { AppError } from './errors.js';

export type Page<T> = { items: T[]; nextCursor: string | null };

/** SY_VALIDATION naming one query parameter (`querystring.<name>`), as schema validation does. */
export function invalidQuery(field: string, message: string): AppError {
  return new AppError('SY_VALIDATION', `${field} ${message}`, [{ field, message }]);
}

/** Encodes a sort key as a cursor. */
export function encodeCursor(key: string): string {
  return Buffer.from(key).toString('base64url');
}

/**
 * The sort key of a cursor this API issued. `parse` turns the decoded key into the list's key,
 * or undefined when it is not one (another endpoint's cursor, an edited one): then SY_VALIDATION
 * on `querystring.cursor`.
 */
export function decodeCursor<T>(cursor: string, parse: (key: string) => T | undefined): T {
  const key = parse(Buffer.from(cursor, 'base64url').toString());
  if (key === undefined) throw invalidQuery('querystring.cursor', 'is not a cursor returned by this API');
  return key;
}

/**
 * A page of `rows` read with `LIMIT limit + 1`: the extra row is not returned, it only says that
 * there is a next page, whose cursor is the key of the last row returned.
 */
export function pageOf<T>(rows: T[], limit: number, keyOf: (last: T) => string): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  const last = items[items.length - 1];
  return { items, nextCursor: more && last !== undefined ? encodeCursor(keyOf(last)) : null };
}

/** The `cursor` query parameter. */
export const CursorParam = Type.String({ minLength: 1, maxLength: 200, description: 'Opaque cursor from a previous page (`nextCursor`)' });

/** The `limit` query parameter: rows per page. */
export const LimitParam = (opts: { default: number; maximum: number; description?: string }) =>
  Type.Integer({ minimum: 1, maximum: opts.maximum, default: opts.default, ...(opts.description ? { description: opts.description } : {}) });

/** The `nextCursor` of a page. */
export const NextCursor = Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the next page; null at the end' });
