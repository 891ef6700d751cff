/** Writes src/lib/api/schema.ts (types) and limits.ts (field limits) from the API's OpenAPI document (see openapi.ts). */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateLimits, generateTypes, servedDocument } from './openapi.js';

const doc = await servedDocument();
for (const [file, text] of [
  ['schema.ts', await generateTypes(doc)],
  ['limits.ts', generateLimits(doc)],
] as const) {
  const out = fileURLToPath(new URL(`../src/lib/api/${file}`, import.meta.url));
  writeFileSync(out, text);
  console.log(`wrote ${out}`);
}
