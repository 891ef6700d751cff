#!/usr/bin/env node
/**
 * `npm start` / `npm run dev`: runs the stack (stack.ts) in a process group of its own and
 * turns Ctrl-C into one ordered stop.
 *
 * A terminal delivers Ctrl-C to its whole foreground process group. Run in that group, the
 * embedded PostgreSQL servers would get SIGINT (PostgreSQL's "fast shutdown") at the same
 * moment as the proxy, which then cannot write its last connection events. Here only this
 * launcher is in the terminal's group: it asks the stack to stop (SIGTERM), and the stack
 * stops the proxy and API first and the databases last. A second Ctrl-C kills the group.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const entry = join(here, here.endsWith('src') ? 'stack.ts' : 'stack.js');

// execArgv carries `--import tsx` and the source conditions of `npm run dev`.
const stack = spawn(process.execPath, [...process.execArgv, entry, ...process.argv.slice(2)], {
  detached: true,
  // The IPC channel lets the stack notice when this launcher dies without a word.
  stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
});

let firstSignalAt = 0;
function stop(): void {
  if (firstSignalAt === 0) {
    firstSignalAt = Date.now();
    stack.kill('SIGTERM');
  } else if (Date.now() - firstSignalAt > 500 && stack.pid !== undefined) {
    // (npm may forward the terminal's signal a moment after the terminal sent it: not a second Ctrl-C.)
    process.stdout.write('\nstopping at once (second signal)\n');
    try {
      process.kill(-stack.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);

stack.once('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
stack.once('error', (err) => {
  process.stderr.write(`could not start the stack: ${err.message}\n`);
  process.exit(1);
});
