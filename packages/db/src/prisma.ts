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
  AcmeCertificate,
  AcmeChallenge,
  ConnectionEvent,
  Database,
  DiscoveredService,
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
  // Route changes serialise on the config_state row, so under bursts (hundreds of
  // concurrent enables) transactions queue for a pool connection longer than Prisma's 2 s
  // default; waiting is better than failing. A request that still cannot get a connection
  // gets 503 (see the API's error handler).
  return new PrismaClient({ adapter, transactionOptions: { maxWait: 10_000, timeout: 15_000 } });
}

/** The interactive-transaction client type, for services that take `tx`. */
export type TxClient = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];
