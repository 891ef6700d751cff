/** Writes src/lib/api/schema.ts from the API's OpenAPI document (see openapi.ts). */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateTypes, servedDocument } from './openapi.js';

const out = fileURLToPath(new URL('../src/lib/api/schema.ts', import.meta.url));
writeFileSync(out, await generateTypes(await servedDocument()));
console.log(`wrote ${out}`);
