import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkEmbeddedAccess, EmbeddedPostgresAccessError, firstUntraversable } from './embedded.js';

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
