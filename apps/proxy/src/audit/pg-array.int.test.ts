/**
 * The audit batch's array literals, read back by a real PostgreSQL: whatever the strings
 * (quotes, backslashes, braces, commas, blanks, the word NULL, any Unicode but U+0000, which
 * text cannot hold), PostgreSQL's array input gives back exactly the values, in place.
 */
import { createTestDatabase, type TestDatabase } from '@switchyard/testkit';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrayElement, numberArray, textArray } from './pg-array.js';

let db: TestDatabase;
let client: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

const readBack = async (literal: string): Promise<Array<string | null>> => (await client.query<{ a: Array<string | null> }>('SELECT $1::text[] AS a', [literal])).rows[0]!.a;

describe('PostgreSQL array literals', () => {
  it('give back every text value exactly, NULLs in place', async () => {
    const hostile = ['', ' ', ' lead', 'trail ', 'NULL', 'null', 'NuLl', '"', '\\', '\\"', 'a,b', '{x}', '}', 'tab\there', 'line\nbreak', 'ü ß 漢字 🙂', 'h2,http/1.1', 'db.internal:5432', '2001:db8::1'];
    expect(await readBack(textArray([...hostile, null], (v) => v))).toEqual([...hostile, null]);
    const text = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: fc.constantFrom('"', '\\', ',', '{', '}', ' ', 'N', 'U', 'L', 'a'), maxLength: 8 }));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.option(text.filter((s) => !s.includes('\0'))), { maxLength: 12 }), async (values) => {
        expect(await readBack(textArray(values, (v) => v))).toEqual(values);
      }),
      { numRuns: 300 },
    );
  });

  it('leave bare what cannot need quotes (no allocation for uuids, addresses, host names, fixed words)', () => {
    for (const v of ['6f1c1a2e-1111-4222-8333-444455556666', '192.0.2.1', '2001:db8::1', 'orders.acme.db.example.com', 'db.internal:5432', 'client_closed', 'TLSv1.3', '0.42', 'user:ada@example.com']) {
      expect(arrayElement(v)).toBe(v);
    }
    expect(arrayElement('NULL')).toBe('"NULL"');
    expect(arrayElement(null)).toBe('NULL');
  });

  it('give back numbers (int8 beyond 2^32, fractional epoch milliseconds) and NULL for a missing one', async () => {
    const { rows } = await client.query<{ a: string[]; t: string[] }>(`SELECT $1::int8[]::text[] AS a, $2::float8[]::text[] AS t`, [
      numberArray([2 ** 40 + 1, 0, null, 17], (v) => v),
      numberArray([1765062000123, 1765062000123.5], (v) => v),
    ]);
    expect(rows[0]!.a).toEqual([String(2 ** 40 + 1), '0', null, '17']);
    expect(rows[0]!.t).toEqual(['1765062000123', '1765062000123.5']);
  });
});
