/**
 * PostgreSQL array literals (`{a,"b c",NULL}`) for the connection-audit batch, which travels
 * as one array per column (`unnest($2::text[], …)`).
 *
 * node-postgres builds these itself from JS arrays (`arrayString`): every element is turned
 * into a string, escaped with two regex replaces, quoted and appended to a growing string.
 * For the audit's 19 columns that came to ~4 KB of garbage per connection — 9 % of all the
 * proxy allocated per connection under load, the largest share of the product's own
 * (docs/performance.md "Allocation per connection"). Here an element goes in bare when it
 * cannot need quoting (uuids, addresses, host names, fixed words, numbers), so most cost no
 * allocation at all, and each column is joined once.
 *
 * The rules (PostgreSQL's array input): an unquoted element may not be empty, contain
 * whitespace, `{` `}` `,` `"` `\`, or spell NULL in any case; a quoted one escapes `"` and
 * `\` with a backslash.
 */

/** Characters an element may hold unquoted (a conservative subset of what PostgreSQL allows). */
const BARE = /^[0-9A-Za-z._:/@+-]+$/;
const NULL_WORD = /^null$/i;
const NEEDS_ESCAPE = /[\\"]/;

/** One element of a text-typed array (the cast on the SQL side checks uuid, inet, …). */
export function arrayElement(v: string | null | undefined): string {
  if (v === null || v === undefined) return 'NULL';
  if (BARE.test(v) && !NULL_WORD.test(v)) return v;
  return `"${NEEDS_ESCAPE.test(v) ? v.replace(/[\\"]/g, '\\$&') : v}"`;
}

/** The literal of `values` mapped by `f` (strings; null for NULL). */
export function textArray<T>(values: readonly T[], f: (v: T) => string | null | undefined): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) parts[i] = arrayElement(f(values[i]!));
  return `{${parts.join(',')}}`;
}

/** The literal of `values` mapped by `f` (finite numbers; null for NULL). */
export function numberArray<T>(values: readonly T[], f: (v: T) => number | null | undefined): string {
  const parts = new Array<string | number>(values.length);
  for (let i = 0; i < values.length; i++) {
    const n = f(values[i]!);
    parts[i] = n === null || n === undefined || !Number.isFinite(n) ? 'NULL' : n;
  }
  return `{${parts.join(',')}}`;
}
