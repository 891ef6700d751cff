/**
 * The long tasks of a V8 `.cpuprofile` (node --cpu-prof): stretches of consecutive samples in
 * which the event loop never went idle, at least `min-ms` long — what a connection arriving
 * during one waits for (p99 latency) — with what ran in them. Used to find where the proxy's
 * added p99 comes from (docs/performance.md "Long tasks and scavenges").
 *
 *   BENCH_SWITCHYARD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof --cpu-prof-interval=250" \
 *     npm run bench -- --modes pinned --suites conns --targets direct,switchyard
 *   npx tsx bench/cpuprofile-long.ts /tmp/prof/CPU.*.cpuprofile [min-ms=3] [skip-s=0]
 *
 * Prints the count and total of such stretches by length, the functions by self time inside
 * them, the same inclusive (every frame on the stack), and the longest eight.
 */
import { frameName, loadProfile } from './cpuprofile.js';

const [file, minMsArg, skipArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: cpuprofile-long.ts <file.cpuprofile> [min-ms=3] [skip-s=0]');
  process.exit(2);
}
const minUs = Number(minMsArg ?? 3) * 1000;
const skipUs = Number(skipArg ?? 0) * 1e6;
const p = loadProfile(file);
const { prof, byId, parent } = p;
const name = (id: number) => frameName(p, id, true);

/** Samples as [node id, µs]. */
type Samples = Array<[number, number]>;
interface Task {
  start: number;
  dur: number;
  samples: Samples;
}

// Busy stretches: runs of samples between two `(idle)` ones.
const tasks: Task[] = [];
let at = 0;
let current: Task | null = null;
for (let i = 0; i < prof.samples.length; i++) {
  const d = prof.timeDeltas[i] ?? 0;
  at += d;
  const id = prof.samples[i]!;
  if (byId.get(id)!.callFrame.functionName !== '(idle)') {
    current ??= { start: at, dur: 0, samples: [] };
    current.samples.push([id, d]);
  } else if (current) {
    current.dur = at - current.start;
    if (current.dur >= minUs && current.start >= skipUs) tasks.push(current);
    current = null;
  }
}

const total = tasks.reduce((a, t) => a + t.dur, 0);
console.log(`${tasks.length} busy stretches ≥ ${minUs / 1000} ms; total ${(total / 1000).toFixed(0)} ms; profile ${(at / 1e6).toFixed(1)} s`);
const byMs = new Map<number, number>();
for (const t of tasks) byMs.set(Math.floor(t.dur / 1000), (byMs.get(Math.floor(t.dur / 1000)) ?? 0) + 1);
console.log('count by length (ms):', [...byMs].sort((a, b) => a[0] - b[0]).map(([ms, n]) => `${ms}:${n}`).join(' '));

const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us);
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const t of tasks) {
  for (const [id, us] of t.samples) {
    add(self, name(id), us);
    const onStack = new Set<string>();
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) onStack.add(name(x));
    for (const k of onStack) add(inclusive, k, us);
  }
}
const ms = (us: number) => (us / 1000).toFixed(1).padStart(8);
const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
console.log('\nself time in long stretches, ms');
for (const [k, us] of top(self, 25)) console.log(ms(us), k);
console.log('\ninclusive time in long stretches, ms');
for (const [k, us] of top(inclusive, 45)) console.log(ms(us), k);
console.log('\nlongest 8:');
for (const t of [...tasks].sort((a, b) => b.dur - a.dur).slice(0, 8)) {
  const m = new Map<string, number>();
  for (const [id, us] of t.samples) add(m, name(id), us);
  console.log(`at ${(t.start / 1e6).toFixed(2)} s, ${(t.dur / 1000).toFixed(1)} ms:`, top(m, 4).map(([k, us]) => `${k} ${(us / 1000).toFixed(1)}`).join(' | '));
}
