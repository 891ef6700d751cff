/**
 * Which failures fail the whole reconcile (the control database is unreachable) and which
 * belong to one object (everything else unexpected).
 */
import { AppError } from '@switchyard/api';
import { createPrisma, Prisma } from '@switchyard/db';
import { describe, expect, it } from 'vitest';
import { objectRetryDelay } from './apply.js';
import { describeError, isControlDatabaseOutage } from './failures.js';

const known = (code: string, cause?: Record<string, unknown>) =>
  new Prisma.PrismaClientKnownRequestError('\nInvalid `prisma.database.create()` invocation in\n/x/y.ts:1:1\n\n→ 1 ...\nthe message', { code, clientVersion: '7', meta: cause ? { driverAdapterError: { name: 'DriverAdapterError', cause } } : undefined });

describe('isControlDatabaseOutage', () => {
  it('is true for a database nothing listens on (a real Prisma error)', async () => {
    const prisma = createPrisma('postgres://postgres@127.0.0.1:1/none', { max: 1 });
    try {
      const err = await prisma.tenant.findMany().catch((e: unknown) => e);
      expect(isControlDatabaseOutage(err)).toBe(true);
    } finally {
      await prisma.$disconnect();
    }
  });

  it.each([
    ['a connection closed by the server (57P01, as pg_terminate_backend)', known('P2039', { kind: 'postgres', code: '57P01', originalCode: '57P01', message: 'terminating connection due to administrator command' })],
    ['a connection exception (class 08)', known('P2010', { kind: 'postgres', code: '08006', message: 'connection failure' })],
    ['too many connections', known('P2037', { kind: 'TooManyConnections', cause: 'x' })],
    ['a pool timeout', known('P2024')],
    ['a transaction that could not start in time', known('P2028')],
    ['a reset socket', known('P1017', { kind: 'ConnectionClosed' })],
    ['an unwrapped node-postgres error', new Error('Connection terminated unexpectedly')],
    ['an unwrapped socket error', Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432'), { code: 'ECONNREFUSED' })],
  ])('is true for %s', (_what, err) => expect(isControlDatabaseOutage(err)).toBe(true));

  it.each([
    ['an error raised in the database by a statement (P0001)', known('P2010', { kind: 'postgres', code: 'P0001', message: 'injected failure' })],
    ['a unique violation the services did not translate', known('P2002', { kind: 'UniqueConstraintViolation' })],
    ['a domain error of the API', new AppError('SY_KEYRING_UNAVAILABLE')],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
  ])('is false for %s', (_what, err) => expect(isControlDatabaseOutage(err)).toBe(false));
});

describe('describeError', () => {
  it('gives the database’s own message and SQLSTATE, not Prisma’s multi-line account', () => {
    expect(describeError(known('P2010', { kind: 'postgres', code: 'P0001', originalCode: 'P0001', originalMessage: 'injected failure' }))).toBe('injected failure (SQLSTATE P0001)');
    expect(describeError(known('P2002'))).toBe('the message');
    expect(describeError(new TypeError('x is undefined'))).toBe('x is undefined');
    expect(describeError(new Error('y'.repeat(400)))).toHaveLength(300);
  });
});

describe('objectRetryDelay (one failing object is retried on its own schedule)', () => {
  it('doubles from 1 s to at most 5 min', () => {
    expect([1, 2, 3, 4].map((n) => objectRetryDelay(n))).toEqual([1000, 2000, 4000, 8000]);
    expect(objectRetryDelay(9)).toBe(256_000);
    expect(objectRetryDelay(10)).toBe(300_000);
    expect(objectRetryDelay(1000)).toBe(300_000);
  });
});
