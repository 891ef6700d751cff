#!/usr/bin/env node
/**
 * `switchyard-db migrate` applies prisma/migrations (Prisma-compatible bookkeeping);
 * `switchyard-db status` lists applied and pending migrations. Reads DATABASE_URL.
 */
import pg from 'pg';
import { loadMigrations, migrate } from './migrate.js';

const [command] = process.argv.slice(2);
const url = process.env.DATABASE_URL;
if (!url) {
  console.error('DATABASE_URL is required');
  process.exit(2);
}

if (command === 'migrate') {
  const r = await migrate(url, { log: (l) => console.log(l) });
  console.log(`migrations: ${r.applied.length} applied, ${r.alreadyApplied.length} already applied`);
} else if (command === 'status') {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const applied = await client
    .query<{ migration_name: string }>('SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL')
    .then((r) => new Set(r.rows.map((x) => x.migration_name)))
    .catch(() => new Set<string>());
  await client.end();
  for (const m of loadMigrations()) console.log(`${applied.has(m.name) ? 'applied ' : 'pending '} ${m.name}`);
} else {
  console.error('usage: switchyard-db migrate|status');
  process.exit(2);
}
