import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError, ERRORS, errorBody } from './errors.js';

describe('error catalogue', () => {
  it('is documented code by code in docs/api-errors.md', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../../../docs/api-errors.md'), 'utf8');
    for (const [code, { status }] of Object.entries(ERRORS)) {
      expect(doc, code).toMatch(new RegExp(`\\| \`${code}\` \\| ${status} \\|`));
    }
  });

  it('builds the one error shape', () => {
    const e = new AppError('SY_DATABASE_NOT_FOUND');
    expect(e.statusCode).toBe(404);
    expect(errorBody(e.code, e.message, 'r1')).toEqual({ statusCode: 404, code: 'SY_DATABASE_NOT_FOUND', error: 'Not Found', message: 'Database not found', requestId: 'r1' });
  });
});
