/**
 * Property runs for hostile-input tests. Every run is bounded (`numRuns`) and seeded: a
 * fresh seed each run explores new inputs, and a failure prints the seed and the command that
 * replays exactly that run (`FC_SEED=<seed>`). Imported as `@switchyard/testkit/fuzz` so
 * parser tests do not load the database helpers.
 */
import fc from 'fast-check';

const fromEnv = process.env.FC_SEED;
/** The seed of this test process: `FC_SEED` when set (replaying a failure), otherwise fresh. */
export const FUZZ_SEED: number = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) | 0 : (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) | 0;

export function fuzz<Ts extends [unknown, ...unknown[]]>(property: fc.IProperty<Ts>, numRuns: number): void {
  const details = fc.check(property, { seed: FUZZ_SEED, numRuns });
  if (details.failed) {
    throw new Error(`${fc.defaultReportMessage(details)}\nReplay this run: FC_SEED=${FUZZ_SEED} npx vitest run <this test file>`);
  }
}
