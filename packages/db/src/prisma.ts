/**
 * The only place that constructs a Prisma Client. Prisma 7's "prisma-client" generator with
 * the pg driver adapter needs no engine binary at run time.
 */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client.js';

export { Prisma, PrismaClient } from './generated/prisma/client.js';
export type {
  ApiToken,
  AuditEvent,
  Certificate,
  ConnectionEvent,
  Database,
  Membership,
  ProxyInstance,
  Route,
  Session,
  Tenant,
  User,
} from './generated/prisma/client.js';

export interface PrismaOptions {
  /** Pool size of the underlying node-postgres pool. */
  max?: number;
}

export function createPrisma(connectionString: string, options: PrismaOptions = {}): PrismaClient {
  const adapter = new PrismaPg({ connectionString, max: options.max ?? 10 });
  return new PrismaClient({ adapter });
}

/** The interactive-transaction client type, for services that take `tx`. */
export type TxClient = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];
