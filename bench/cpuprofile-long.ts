/**
 * The long tasks of a V8 `.cpuprofile` (node --cpu-prof): stretches of consecutive samples in
 * which the event loop never went idle, at least `min-ms` long — what a connection arriving
 * during one waits for (p99 latency) — with what ran in them. Used to find where the proxy's
 * added p99 comes from (docs/performance.md "Long tasks").
 *
 *   BENCH_SWITCHYARD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof --cpu-prof-interval=250" \
 *     npm run bench -- --modes pinned --suites conns --targets direct,switchyard
 *   npx tsx bench/cpuprofile-long.ts /tmp/prof/CPU.*.cpuprofile [min-ms=3] [skip-s=0]
 *
 * Prints the count and total of such stretches by length, the functions by self time inside
 * them, the same inclusive (every frame on the stack), and the longest eight.
 */
import { readFileSync } from 'node:fs';
interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number }
const [file, minMsArg, skipArg] = process.argv.slice(2);
const minUs = Number(minMsArg ?? 3) * 1000;
const prof = JSON.parse(readFileSync(file!, 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const short = (url: string) => url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules\/)/, '$1').replace(/^.*\/(apps|packages|bench)\//, '$1/');
const lab = (id: number) => { const f = byId.get(id)!.callFrame; return `${f.functionName || '(anon)'} ${short(f.url)}:${f.lineNumber + 1}`; };
const stack = (id: number) => { const s: number[] = []; for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) s.push(x); return s.reverse(); };
const skipUs = Number(skipArg ?? 0) * 1e6;
let at = 0; let runStart = -1; let runSamples: [number, number][] = [];
const tasks: { start: number; dur: number; samples: [number, number][] }[] = [];
for (let i = 0; i < prof.samples.length; i++) {
  const d = prof.timeDeltas[i] ?? 0; at += d;
  const fn = byId.get(prof.samples[i]!)!.callFrame.functionName;
  const idle = fn === '(idle)';
  if (!idle) { if (runStart < 0) { runStart = at; runSamples = []; } runSamples.push([prof.samples[i]!, d]); }
  else if (runStart >= 0) { const dur = at - runStart; if (dur >= minUs && runStart >= skipUs) tasks.push({ start: runStart, dur, samples: runSamples }); runStart = -1; }
}
console.log(`${tasks.length} busy stretches ≥ ${minUs / 1000} ms; total ${(tasks.reduce((a, t) => a + t.dur, 0) / 1000).toFixed(0)} ms; profile ${(at / 1e6).toFixed(1)} s`);
const hist = new Map<number, number>(); for (const t of tasks) { const b = Math.floor(t.dur / 1000); hist.set(b, (hist.get(b) ?? 0) + 1); }
console.log('by ms:', [...hist].sort((a, b) => a[0] - b[0]).map(([b, n]) => `${b}:${n}`).join(' '));
// attribute: for each stretch, self time by leaf and by every frame (inclusive)
const incl = new Map<string, number>(); const leaf = new Map<string, number>();
for (const t of tasks) {
  const seen = new Set<string>();
  for (const [id, d] of t.samples) {
    const l = lab(id); leaf.set(l, (leaf.get(l) ?? 0) + d);
    const s = new Set(stack(id).map(lab));
    for (const k of s) incl.set(k, (incl.get(k) ?? 0) + d);
    seen.add(l);
  }
}
console.log('\nleaf (self) in long stretches'); for (const [k, v] of [...leaf].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log((v / 1000).toFixed(1).padStart(8), k);
console.log('\ninclusive in long stretches'); for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log((v / 1000).toFixed(1).padStart(8), k);
console.log('\nlongest 8:'); for (const t of [...tasks].sort((a, b) => b.dur - a.dur).slice(0, 8)) { const m = new Map<string, number>(); for (const [id, d] of t.samples) { const l = lab(id); m.set(l, (m.get(l) ?? 0) + d); } console.log(`at ${(t.start / 1e6).toFixed(2)} s, ${(t.dur / 1000).toFixed(1)} ms:`, [...m].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(' | ')); }
