/**
 * Ranks the functions of a V8 `.cpuprofile` (node --cpu-prof) by self time, with the share of
 * all samples, and the same by source file. Used to find where a proxy's per-connection CPU
 * goes (bench:instructions --cpu-prof; docs/performance.md "Per new connection").
 *
 *   npx tsx bench/cpuprofile-top.ts /tmp/prof/switchyard.cpuprofile [top=40] [skip=0] [filter]
 *
 * `skip`: seconds at the start of the profile left out (start-up, warm-up), so only the
 * measured connections count. `filter`: only frames whose URL contains it (e.g. `apps/proxy`).
 * Each function's callers (by self time they account for) are listed under the top ones.
 */
import { frameName, loadProfile, shortUrl } from './cpuprofile.js';

const [file, topArg, skipArg, filter] = process.argv.slice(2);
if (!file) {
  console.error('usage: cpuprofile-top.ts <file.cpuprofile> [top] [url filter]');
  process.exit(2);
}
const loaded = loadProfile(file);
const { prof, byId, parent } = loaded;
// Self time per node: each sample's time delta goes to the node sampled.
const self = new Map<number, number>();
const skipUs = Number(skipArg ?? 0) * 1e6;
let at = 0;
for (let i = 0; i < prof.samples.length; i++) {
  at += prof.timeDeltas[i] ?? 0;
  if (at < skipUs) continue;
  self.set(prof.samples[i]!, (self.get(prof.samples[i]!) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const byFn = new Map<string, number>();
const callers = new Map<string, Map<string, number>>();
const label = (id: number | undefined) => frameName(loaded, id);
const byFile = new Map<string, number>();
for (const [id, us] of self) {
  const f = byId.get(id)!.callFrame;
  if (filter && !f.url.includes(filter)) continue;
  const key = frameName(loaded, id, true);
  byFn.set(key, (byFn.get(key) ?? 0) + us);
  const by = callers.get(key) ?? new Map<string, number>();
  const p1 = parent.get(id);
  const chain = `${label(p1)} ← ${label(p1 === undefined ? undefined : parent.get(p1))}`;
  by.set(chain, (by.get(chain) ?? 0) + us);
  callers.set(key, by);
  const fk = shortUrl(f.url) || f.functionName;
  byFile.set(fk, (byFile.get(fk) ?? 0) + us);
}
const top = Number(topArg ?? 40);
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
const busy = total - [...self].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, us]) => a + us, 0);
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled after the first ${skipUs / 1e6} s, ${(busy / 1e6).toFixed(2)} s not idle`);
console.log('\nby function (self time)');
for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  for (const [c, cus] of [...callers.get(k)!].sort((a, b) => b[1] - a[1]).slice(0, 2)) console.log(`                      ${(cus / 1000).toFixed(0).padStart(5)} ms ← ${c}`);
}
console.log('\nby file (self time)');
for (const [k, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
