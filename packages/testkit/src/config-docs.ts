/**
 * docs/configuration.md against a process's environment schema (the `EnvSchema` of its
 * config.ts), for each config.test.ts: every variable the process reads is named in its
 * sections of the page, every variable a table row of those sections describes is read, and a
 * default the row gives as one literal is the schema's. Imported as
 * `@switchyard/testkit/config-docs` so config tests do not load the database helpers.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PAGE = fileURLToPath(new URL('../../../docs/configuration.md', import.meta.url));

/** The subset of a zod object schema this needs: each variable's schema parses `undefined` to its default. */
interface EnvSchemaLike {
  shape: Record<string, { safeParse(value: unknown): { success: boolean; data?: unknown } }>;
}

interface Row {
  section: string;
  name: string;
  /** The row's default for this variable when it is one literal (`` `8480` ``, `unset`, `empty`); otherwise undefined. */
  literal: string | null | undefined;
}

/** `## ` sections whose title starts with one of `sections` ("Shared", "API", "Proxy", …). */
function read(sections: readonly string[]): { named: Set<string>; rows: Row[] } {
  const named = new Set<string>();
  const rows: Row[] = [];
  let current: string | null = null;
  for (const line of readFileSync(PAGE, 'utf8').split('\n')) {
    const heading = /^## (.*)/.exec(line);
    if (heading) {
      current = sections.find((s) => heading[1]!.startsWith(s)) ?? null;
      continue;
    }
    if (current === null) continue;
    for (const m of line.matchAll(/`([A-Z][A-Z0-9_]{2,})`/g)) named.add(m[1]!);
    const row = /^\| (`[A-Z][^|]*?) \| ([^|]*?) \|/.exec(line);
    if (!row) continue;
    const names = [...row[1]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!);
    // One default per variable: "`0.0.0.0`, `8480`" for a row of two.
    const cells = names.length > 1 ? row[2]!.split(/,\s*/) : [row[2]!];
    names.forEach((name, i) => rows.push({ section: current!, name, literal: names.length > 1 && cells.length !== names.length ? undefined : literal(cells[i]!) }));
  }
  return { named, rows };
}

/** `` `8480` `` or `` `0` (off) `` → "8480"; `unset` / `empty …` → null (nothing set); anything else (prose, `<hostname>-<pid>`) → undefined. */
function literal(cell: string): string | null | undefined {
  const m = /^`([^`<]*)`(?:\s*\([^)]*\))?$/.exec(cell.trim());
  if (m) return m[1]!;
  if (/^(unset|empty)\b/.test(cell.trim())) return null;
  return undefined;
}

export interface ConfigDocProblems {
  /** Read by the process, named nowhere in its sections. */
  undocumented: string[];
  /** Described by a table row of its sections (`described` only), not read. */
  unknown: string[];
  /** `NAME: page says X, config.ts Y`. */
  wrongDefaults: string[];
}

/**
 * Checks `schema` against the page. `named` are the sections where a variable may be
 * documented (a table row or prose); `described` (default: `named`) are the sections whose
 * table rows must all be variables of this schema.
 */
export function checkConfigDoc(schema: EnvSchemaLike, named: readonly string[], described: readonly string[] = named): ConfigDocProblems {
  const page = read(named);
  const variables = Object.keys(schema.shape);
  const rows = page.rows.filter((r) => described.some((s) => r.section.startsWith(s)));
  const wrongDefaults: string[] = [];
  for (const row of rows) {
    const field = schema.shape[row.name];
    if (!field || row.literal === undefined) continue;
    const parsed = field.safeParse(undefined);
    // Required variables have no default to compare.
    if (!parsed.success) continue;
    const value = parsed.data;
    const actual = value === undefined || value === '' ? null : typeof value === 'string' ? value : JSON.stringify(value);
    if (actual !== row.literal) wrongDefaults.push(`${row.name}: page says ${row.literal ?? 'unset'}, config.ts ${actual ?? 'unset'}`);
  }
  return {
    undocumented: variables.filter((v) => !page.named.has(v)),
    unknown: rows.map((r) => r.name).filter((v) => !variables.includes(v)),
    wrongDefaults,
  };
}
