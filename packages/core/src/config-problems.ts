/**
 * How an app's `config.ts` refuses a bad environment: every bad variable in one message — the
 * schema's problems and the app's own checks together — so an operator fixes them in one round
 * instead of one restart per variable (docs/configuration.md).
 */

/** What a schema's `safeParse` returns (zod's shape, without depending on zod here). */
export type ParsedEnv<E> = { success: true; data: E } | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } };

export interface ConfigProblems<E> {
  /** `NAME: what is wrong`, one per problem; the caller throws them joined when any. */
  problems: string[];
  /**
   * The parsed environment, or the raw one when the schema failed: the app's checks read
   * variables the schema takes as plain strings, which are the same strings either way (their
   * defaults are repeated at the check).
   */
  env: E;
  /** Runs `fn`; a throw is recorded as a problem of `name`, and undefined returned. */
  check: <T>(name: string, fn: () => T) => T | undefined;
}

export function configProblems<E>(parsed: ParsedEnv<E>, raw: NodeJS.ProcessEnv): ConfigProblems<E> {
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`);
  return {
    problems,
    env: parsed.success ? parsed.data : (raw as unknown as E),
    check: <T>(name: string, fn: () => T): T | undefined => {
      try {
        return fn();
      } catch (err) {
        problems.push(`${name}: ${(err as Error).message}`);
        return undefined;
      }
    },
  };
}
