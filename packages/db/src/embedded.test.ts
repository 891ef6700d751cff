import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkEmbeddedAccess, EmbeddedPostgresAccessError, EmbeddedPostgresStartError, firstUntraversable, postgresFailureLines } from './embedded.js';

// A user that owns nothing here and is in no group of these folders: only "other" bits count.
const stranger = { name: 'postgres', uid: 2_000_000_001, gid: 2_000_000_001 };
// Test folders live where that user can reach (TMPDIR itself may be 0700).
const base = [tmpdir(), '/var/tmp', '/tmp'].find((d) => firstUntraversable(d, stranger) === null) ?? tmpdir();

describe('embedded PostgreSQL access check (root runs the server as postgres)', () => {
  const made: string[] = [];
  afterEach(() => {
    for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function folder(mode: number): string {
    const d = mkdtempSync(join(base, 'sy-access-'));
    made.push(d);
    chmodSync(d, mode);
    return d;
  }

  it('finds the 0700 folder on the way to the data folder', () => {
    const d = folder(0o700);
    mkdirSync(join(d, 'inner'));
    expect(firstUntraversable(join(d, 'inner', 'data', 'pg'), stranger)).toMatchObject({ path: d, mode: '0700' });
  });

  it('accepts a traversable path, including parts that do not exist yet', () => {
    const d = folder(0o755);
    expect(firstUntraversable(join(d, 'not', 'yet'), stranger)).toBeNull();
  });

  it('lets the owner in through the owner bits', () => {
    const d = folder(0o700);
    const st = { ...stranger, uid: process.getuid?.() ?? 0 };
    expect(firstUntraversable(d, st)).toBeNull();
  });

  it('says what is wrong and how to fix it instead of a bare EACCES', () => {
    const d = folder(0o700);
    const bin = folder(0o755);
    let err: unknown;
    try {
      checkEmbeddedAccess(join(d, 'data'), bin, stranger);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EmbeddedPostgresAccessError);
    const msg = (err as Error).message;
    expect(msg).toContain(`cannot enter ${d} (mode 0700`);
    expect(msg).toContain(`chmod o+x ${d}`);
    expect(msg).toContain('DATABASE_URL=');
    expect(msg).toContain('SWITCHYARD_DATA_DIR=');
  });

  it('checks the binaries too (a checkout inside a 0700 folder)', () => {
    const d = folder(0o700);
    const data = folder(0o755);
    expect(() => checkEmbeddedAccess(join(data, 'pg'), join(d, 'node_modules', 'bin'), stranger)).toThrow(/on the way to the PostgreSQL binaries/);
  });
});

describe('postgresFailureLines', () => {
  it('keeps what says why the server stopped, without the log prefix', () => {
    expect(
      postgresFailureLines([
        '2026-12-07 04:40:18.123 UTC [123] LOG:  starting PostgreSQL 18.0',
        '2026-12-07 04:40:18.124 UTC [123] LOG:  could not bind IPv4 address "127.0.0.1": Address already in use',
        '2026-12-07 04:40:18.124 UTC [123] HINT:  Is another postmaster already running on port 54320? If not, wait a few seconds and retry.',
        '2026-12-07 04:40:18.125 UTC [123] FATAL:  could not create any TCP/IP sockets',
      ]),
    ).toEqual([
      'could not bind IPv4 address "127.0.0.1": Address already in use',
      'HINT: Is another postmaster already running on port 54320? If not, wait a few seconds and retry.',
      'FATAL: could not create any TCP/IP sockets',
    ]);
  });
});

describe('EmbeddedPostgresStartError', () => {
  it('quotes the lines of the log that say why, and says so when there are none', () => {
    const e = new EmbeddedPostgresStartError(54320, ['LOG:  starting', '2026-12-07 UTC [1] FATAL:  data directory "/x" has invalid permissions']);
    expect(e.message).toBe('embedded PostgreSQL on 127.0.0.1:54320 did not start: FATAL: data directory "/x" has invalid permissions');
    expect(e.failure).toEqual(['FATAL: data directory "/x" has invalid permissions']);
    expect(new EmbeddedPostgresStartError(54320, ['LOG:  starting']).message).toBe('embedded PostgreSQL on 127.0.0.1:54320 did not start (its log says nothing more)');
  });
});
