/**
 * The committed API types (schema.ts) are what the API serves today: regenerated from the
 * OpenAPI document of an API built in-process and compared. On a difference, run
 * `npm run gen:api -w @switchyard/web` and commit the result.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { generateTypes, servedDocument } from '../../../scripts/openapi.js';

it('the committed API types match the OpenAPI document the API serves', async () => {
  const committed = readFileSync(fileURLToPath(new URL('./schema.ts', import.meta.url)), 'utf8');
  const fresh = await generateTypes(await servedDocument());
  // A readable failure: the first differing line, not a 5000-line diff.
  const a = committed.split('\n');
  const b = fresh.split('\n');
  const i = a.findIndex((line, n) => line !== b[n]);
  expect(i === -1 && a.length === b.length, `schema.ts is stale from line ${i + 1}: run npm run gen:api -w @switchyard/web`).toBe(true);
}, 60_000);
