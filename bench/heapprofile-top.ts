/**
 * Reads a `.heapprofile` written by `bench/heap-sample.mjs` (every allocation, kept or
 * freed, sampled every 1 KiB): the bytes allocated in all, the functions that allocated the
 * most by self size, and — with `--callers <name>` — the stacks that led to one of them.
 *
 *   npx tsx bench/heapprofile-top.ts /tmp/heap/switchyard-123.heapprofile [top=25]
 *   npx tsx bench/heapprofile-top.ts /tmp/heap/switchyard-123.heapprofile --callers arrayString
 *
 * Per connection: divide by the connections the process took (the bench's log and results),
 * or compare two profiles by a per-connection frame both have (`Socket node:net`: two per
 * connection) — start-up allocations are in the total too.
 */
import { readFileSync } from 'node:fs';
import { shortUrl } from './cpuprofile.js';

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children?: HeapNode[];
}

const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: heapprofile-top.ts <file.heapprofile> [top] [--callers <function name>]');
  process.exit(2);
}
const callersOf = rest[0] === '--callers' ? rest[1] : undefined;
const top = Number(callersOf ? 8 : (rest[0] ?? 25));
const head = (JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode }).head;
const name = (n: HeapNode) => `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url) || '(native)'}:${n.callFrame.lineNumber + 1}`;

const bySelf = new Map<string, number>();
const byStack = new Map<string, number>();
let total = 0;
const walk = (n: HeapNode, stack: string[]) => {
  const here = [...stack, name(n)];
  if (n.selfSize > 0) {
    total += n.selfSize;
    const k = here.at(-1)!;
    bySelf.set(k, (bySelf.get(k) ?? 0) + n.selfSize);
    if (callersOf && k.startsWith(callersOf)) {
      const s = here.slice(-6).reverse().join(' < ');
      byStack.set(s, (byStack.get(s) ?? 0) + n.selfSize);
    }
  }
  for (const c of n.children ?? []) walk(c, here);
};
walk(head, []);

const mb = (b: number) => (b / 1e6).toFixed(2).padStart(8);
console.log(`${mb(total)} MB allocated in all (sampled)`);
const rows = [...(callersOf ? byStack : bySelf)].sort((a, b) => b[1] - a[1]).slice(0, top);
for (const [k, v] of rows) console.log(`${mb(v)} MB ${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`);
