/**
 * A digest of every row of every table of the control database, for tests that must prove a
 * refused request wrote nothing ("bad input loses nothing"): equal digests before and after.
 */
import type { PrismaClient } from '@switchyard/db';

/** Table name → md5 of its rows in a stable order (the migration bookkeeping left out). */
export async function snapshotDatabase(prisma: PrismaClient): Promise<Record<string, string>> {
  const tables = await prisma.$queryRaw<Array<{ name: string }>>`
    SELECT table_name AS name FROM information_schema.tables
     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations'
     ORDER BY table_name`;
  const out: Record<string, string> = {};
  for (const { name } of tables) {
    // Names come from the catalogue above, not from input; quoted as identifiers all the same.
    const ident = `"${name.replaceAll('"', '""')}"`;
    const [row] = await prisma.$queryRawUnsafe<Array<{ digest: string | null }>>(`SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS digest FROM ${ident} t`);
    out[name] = row?.digest ?? 'empty';
  }
  return out;
}
