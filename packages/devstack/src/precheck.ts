/**
 * Run by `npm start` before its build (scripts/start-precheck.mjs, from the previous build):
 * a stack already running from this folder is named at once, before the build rewrites the
 * output folders it runs from. The stack's own lock (preflight.ts `acquireStackLock`) still
 * decides; this only spares the running one a rebuild under its feet.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDevConfig } from './config.js';
import { describeStartError } from './errors.js';
import { alreadyRunning, runningStack } from './preflight.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Exits 1 with the stack's message when one is running from this folder; returns otherwise. */
export function precheck(): void {
  let dataDir: string;
  try {
    dataDir = loadDevConfig(root).dataDir;
  } catch {
    return; // a bad configuration is the stack's to explain, after the build
  }
  const pid = runningStack(dataDir);
  if (pid === null) return;
  process.stderr.write(`start failed: ${describeStartError(alreadyRunning(dataDir, pid))}\n`);
  process.exit(1);
}
