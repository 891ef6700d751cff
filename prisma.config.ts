// Prisma CLI configuration (Prisma 7 reads the datasource URL from here, not the schema).
// `npm run db:migrate` uses the project's own runner; `npx prisma migrate deploy` works too
// where the CLI can fetch its schema engine.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/switchyard' },
});
