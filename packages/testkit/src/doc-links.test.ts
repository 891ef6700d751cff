/**
 * README.md and docs/*.md: every relative link names a file that exists, and every `#anchor`
 * (within a page or into another one) names a heading of the target as GitHub renders it, or
 * an explicit `<a id>`. Beside config-docs.ts, which holds docs/configuration.md to the apps'
 * config.ts; this one keeps the pages' cross-references from going stale when a heading is
 * renamed or a page moves.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Lines outside fenced code blocks, with their 1-based numbers. */
function prose(md: string): Array<{ line: string; n: number }> {
  const out: Array<{ line: string; n: number }> = [];
  let fence: string | null = null;
  md.split('\n').forEach((line, i) => {
    const f = /^\s*(```|~~~)/.exec(line);
    if (f) {
      if (fence === null) fence = f[1]!;
      else if (f[1] === fence) fence = null;
      return;
    }
    if (fence === null) out.push({ line, n: i + 1 });
  });
  return out;
}

/**
 * GitHub's heading anchor: the rendered text (code spans and links keep their text, emphasis
 * markers and HTML tags go), lower-cased, every character that is not a letter, digit, space,
 * `-` or `_` dropped, spaces turned into `-`. A repeated slug gets `-1`, `-2`, … in page order.
 */
function githubSlug(heading: string): string {
  const text = heading
    .replace(/`([^`]*)`/g, '$1')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/\*+/g, '');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/ /g, '-');
}

const anchorCache = new Map<string, Set<string>>();
function anchorsOf(file: string): Set<string> {
  let anchors = anchorCache.get(file);
  if (anchors) return anchors;
  anchors = new Set();
  const seen = new Map<string, number>();
  for (const { line } of prose(readFileSync(file, 'utf8'))) {
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      const slug = githubSlug(h[1]!);
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      anchors.add(n === 0 ? slug : `${slug}-${n}`);
    }
    for (const a of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(a[1]!);
  }
  anchorCache.set(file, anchors);
  return anchors;
}

/** `page:line: link — problem` for every relative link of `page` that does not resolve. */
function brokenLinks(page: string): string[] {
  const file = join(ROOT, page);
  const problems: string[] = [];
  for (const { line, n } of prose(readFileSync(file, 'utf8'))) {
    const text = line.replace(/`[^`]*`/g, '');
    const targets = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g), ...text.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/g)].map((m) => m[1]!);
    for (const href of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(href)) continue; // https:, mailto:, …
      const hash = href.indexOf('#');
      const path = hash < 0 ? href : href.slice(0, hash);
      const anchor = hash < 0 ? null : decodeURIComponent(href.slice(hash + 1));
      const target = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
      if (!existsSync(target)) {
        problems.push(`${page}:${n}: ${href} — no such file ${relative(ROOT, target)}`);
        continue;
      }
      if (anchor === null || !target.endsWith('.md') || statSync(target).isDirectory()) continue;
      if (!anchorsOf(target).has(anchor)) problems.push(`${page}:${n}: ${href} — ${relative(ROOT, target)} has no heading #${anchor}`);
    }
  }
  return problems;
}

describe('links between README.md and docs/*.md', () => {
  it('slugs headings as GitHub does', () => {
    expect(githubSlug('Plain HTTP by Host (`http` listeners)')).toBe('plain-http-by-host-http-listeners');
    expect(githubSlug('Cold start with 100,000 routes')).toBe('cold-start-with-100000-routes');
    expect(githubSlug('API (`apps/api`)')).toBe('api-appsapi');
    expect(githubSlug('Local stack (`npm start`)')).toBe('local-stack-npm-start');
    expect(githubSlug('Top client addresses: exact up to 30,000 events, sampled beyond')).toBe('top-client-addresses-exact-up-to-30000-events-sampled-beyond');
  });

  it.each(PAGES)('%s: every relative link and #anchor resolves', (page) => {
    expect(brokenLinks(page)).toEqual([]);
  });
});
