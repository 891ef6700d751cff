/**
 * Golden tests of the translator (as Envoy Gateway tests its own): each
 * testdata/cases/<name>.in.yaml (Kubernetes objects, plus the shared fixtures named on its
 * `# fixtures:` line) must translate to exactly testdata/cases/<name>.out.yaml (routes,
 * planned statuses, discovered services). `UPDATE_GOLDEN=1 npx vitest run <this file>`
 * rewrites the .out files; review the diff.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadObjects } from '../testing/load.js';
import { databaseName, listenerAdmits, translate, type TranslateContext } from './translate.js';

const dir = join(import.meta.dirname, 'testdata');
const ctx: TranslateContext = { tenants: new Set(['acme', 'beta']), baseDomain: 'db.example.test', clusterDomain: 'cluster.local' };

function input(file: string) {
  const text = readFileSync(join(dir, 'cases', file), 'utf8');
  const fixtures = /^# fixtures: (.+)$/m.exec(text)?.[1]?.split(',').map((f) => f.trim()) ?? [];
  return loadObjects([...fixtures.map((f) => readFileSync(join(dir, f), 'utf8')), text]);
}

describe('translate (golden files)', () => {
  const cases = readdirSync(join(dir, 'cases')).filter((f) => f.endsWith('.in.yaml'));
  it('has cases', () => expect(cases.length).toBeGreaterThanOrEqual(6));
  for (const file of cases) {
    it(file.replace('.in.yaml', ''), () => {
      const out = translate(input(file), ctx);
      const golden = join(dir, 'cases', file.replace('.in.yaml', '.out.yaml'));
      const text = stringify(out, { lineWidth: 0 });
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(golden)) writeFileSync(golden, text);
      expect(out).toEqual(parse(readFileSync(golden, 'utf8')));
    });
  }

  it('is pure: the same input gives the same output, whatever the object order', () => {
    const a = input('hostname-conflict.in.yaml');
    const reversed = Object.fromEntries(Object.entries(a).map(([k, v]) => [k, [...(v as unknown[])].reverse()])) as unknown as typeof a;
    expect(translate(reversed, ctx)).toEqual(translate(a, ctx));
  });
});

describe('databaseName', () => {
  it('is <namespace>-<name> when that is a valid database name, else shortened with a stable hash', () => {
    expect(databaseName('acme-prod', 'orders')).toBe('acme-prod-orders');
    const long = databaseName('a-very-long-namespace-name', 'and-an-even-longer-object-name');
    expect(long).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(long).toBe(databaseName('a-very-long-namespace-name', 'and-an-even-longer-object-name'));
    expect(databaseName('x.y', 'z')).toMatch(/^x-y-z-[0-9a-f]{8}$/);
  });
});

describe('listenerAdmits (a Gateway listener hostname narrows a route’s hostnames)', () => {
  it.each([
    [undefined, 'a.example.com', true],
    ['a.example.com', 'a.example.com', true],
    ['a.example.com', 'b.example.com', false],
    ['*.example.com', 'a.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', '*.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'a.example.org', false],
    ['a.example.com', '*.example.com', false],
  ])('listener %s, route %s → %s', (listener, route, admitted) => {
    expect(listenerAdmits(listener, route)).toBe(admitted);
  });
});
