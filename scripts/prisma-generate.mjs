#!/usr/bin/env node
// Generates the Prisma Client (generator "prisma-client", TypeScript output under
// packages/db/src/generated). The client itself needs no engine binary (driver adapter
// @prisma/adapter-pg), but the CLI insists on locating a schema-engine binary and tries to
// download one when it finds none. Where the download host is unreachable (air-gapped CI,
// this project's sandbox) pointing PRISMA_SCHEMA_ENGINE_BINARY at any existing file lets
// `prisma generate` run offline; `generate` never executes it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
let cli;
try {
  cli = require.resolve('prisma/build/index.js');
} catch {
  console.warn('[prisma-generate] prisma CLI not installed (production install?); skipping client generation');
  process.exit(0);
}
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY || !existsSync(env.PRISMA_SCHEMA_ENGINE_BINARY)) {
  env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
}
const r = spawnSync(process.execPath, [cli, 'generate'], { cwd: root, env, stdio: 'inherit' });
process.exit(r.status ?? 1);
