import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError, ERRORS, errorBody } from './errors.js';

const doc = readFileSync(join(import.meta.dirname, '../../../../docs/api-errors.md'), 'utf8');
/** Rows of the catalogue table: | `SY_CODE` | 404 | When … | */
const rows = [...doc.matchAll(/^\| `(SY_[A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => ({ code: m[1]!, status: Number(m[2]) }));

describe('error catalogue', () => {
  it('documents every code of lib/errors.ts in docs/api-errors.md, with its status', () => {
    const documented = new Map(rows.map((r) => [r.code, r.status]));
    const missing = Object.keys(ERRORS).filter((c) => !documented.has(c));
    expect(missing, 'codes missing from docs/api-errors.md').toEqual([]);
    for (const [code, { status }] of Object.entries(ERRORS)) expect(documented.get(code), code).toBe(status);
  });

  it('documents no code that the API does not have, and each code once', () => {
    const unknown = rows.map((r) => r.code).filter((c) => !(c in ERRORS));
    expect(unknown, 'codes in docs/api-errors.md that lib/errors.ts does not define').toEqual([]);
    expect(rows.length).toBe(new Set(rows.map((r) => r.code)).size);
    // Codes mentioned in the prose exist too.
    const mentioned = [...doc.matchAll(/`(SY_[A-Z0-9_]+)`/g)].map((m) => m[1]!);
    expect(mentioned.filter((c) => !(c in ERRORS))).toEqual([]);
  });

  it('builds the one error shape', () => {
    const e = new AppError('SY_DATABASE_NOT_FOUND');
    expect(e.statusCode).toBe(404);
    expect(errorBody(e.code, e.message, 'r1')).toEqual({ statusCode: 404, code: 'SY_DATABASE_NOT_FOUND', error: 'Not Found', message: 'Database not found', requestId: 'r1' });
  });
});
