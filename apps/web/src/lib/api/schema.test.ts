/**
 * The committed API types (schema.ts) and field limits (limits.ts) are what the API serves
 * today: regenerated from the OpenAPI document of an API built in-process and compared. On a
 * difference, run `npm run gen:api -w @switchyard/web` and commit the result.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, it } from 'vitest';
import { generateLimits, generateTypes, servedDocument } from '../../../scripts/openapi.js';

let doc: Record<string, unknown>;
beforeAll(async () => {
  doc = await servedDocument();
}, 60_000);

/** A readable failure: the first differing line, not a 5000-line diff. */
function expectCurrent(file: string, fresh: string) {
  const committed = readFileSync(fileURLToPath(new URL(`./${file}`, import.meta.url)), 'utf8');
  const a = committed.split('\n');
  const b = fresh.split('\n');
  const i = a.findIndex((line, n) => line !== b[n]);
  expect(i === -1 && a.length === b.length, `${file} is stale from line ${i + 1}: run npm run gen:api -w @switchyard/web`).toBe(true);
}

it('the committed API types match the OpenAPI document the API serves', async () => {
  expectCurrent('schema.ts', await generateTypes(doc));
}, 60_000);

it('the committed field limits match the OpenAPI document the API serves', () => {
  expectCurrent('limits.ts', generateLimits(doc));
});
