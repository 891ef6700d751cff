import { describe, expect, it } from 'vitest';
import { startProcess } from './supervisor.js';

/** A child that takes `ms` to finish after SIGTERM, as the proxy does while it drains. */
const SLOW_STOP = (ms: number) => [
  '-e',
  `process.on('SIGTERM', () => setTimeout(() => process.exit(0), ${ms})); process.stdout.write('ready\\n'); setInterval(() => {}, 1000);`,
];

async function started(grace: number | undefined, drainMs: number) {
  let exitCode: number | null | undefined;
  const p = startProcess('slow', SLOW_STOP(drainMs), process.env, (code) => (exitCode = code), { consoleLevel: 100, stopGraceMs: grace });
  await new Promise<void>((r) => p.child.stdout!.once('data', () => r()));
  return { p, exit: () => ({ code: exitCode, signal: p.child.signalCode }) };
}

describe('startProcess stop()', () => {
  it('lets a child finish its drain within the grace', async () => {
    const { p, exit } = await started(5_000, 300);
    await p.stop();
    expect(exit()).toEqual({ code: 0, signal: null });
  });

  it('kills a child that outlives the grace', async () => {
    const { p, exit } = await started(100, 10_000);
    await p.stop();
    expect(exit().signal).toBe('SIGKILL');
  });
});
