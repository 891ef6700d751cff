import { describe, expect, it } from 'vitest';
import { AppError } from './errors.js';
import { decodeCursor, encodeCursor, pageOf } from './pagination.js';

describe('keyset pagination helpers', () => {
  it('round-trip a key through an opaque, URL-safe cursor', () => {
    const cursor = encodeCursor('acme-corp');
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, (k) => k)).toBe('acme-corp');
  });

  it('refuse a cursor whose key the list does not accept, on querystring.cursor', () => {
    let err: unknown;
    try {
      decodeCursor(encodeCursor('12:34'), (k) => (/^[a-z]+$/.test(k) ? k : undefined));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'SY_VALIDATION', statusCode: 400, details: [{ field: 'querystring.cursor' }] });
  });

  it('return `limit` rows of the `limit + 1` read, with a cursor only when there was one more', () => {
    const key = (s: string) => s;
    expect(pageOf(['a', 'b', 'c'], 2, key)).toEqual({ items: ['a', 'b'], nextCursor: encodeCursor('b') });
    expect(pageOf(['a', 'b'], 2, key)).toEqual({ items: ['a', 'b'], nextCursor: null });
    expect(pageOf([], 2, key)).toEqual({ items: [], nextCursor: null });
  });
});
