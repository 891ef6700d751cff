/**
 * Preloaded into the Switchyard processes of the benchmark (`--import`, the baseline's too, so
 * both are measured the same way; never part of the product): on SIGUSR2 the process runs two
 * full garbage collections and prints `bench-settled <n>` on stderr, with what V8 holds. The idle suite reads RSS
 * after that, so its slope is what the connections hold rather than where V8's next major
 * collection happens to land (±2 KiB per connection between runs of the same code without it).
 *
 * BENCH_HEAP_SNAPSHOTS=<dir> also writes a heap snapshot after each settle (a diagnostic run:
 * writing one costs seconds and RSS, so the figures of that run are not the ones to report).
 */
import { join } from 'node:path';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/** @type {() => void} */
const gc = runInNewContext('gc');
const snapshots = process.env.BENCH_HEAP_SNAPSHOTS;
let settled = 0;
process.on('SIGUSR2', () => {
  gc();
  gc();
  settled++;
  if (snapshots) writeHeapSnapshot(join(snapshots, `settle-${process.pid}-${settled}.heapsnapshot`));
  // What V8 still holds, after the GCs: the rest of RSS is native (libuv, OpenSSL) or what
  // the allocator keeps of memory already freed.
  const m = process.memoryUsage();
  const mib = (b) => (b / 2 ** 20).toFixed(1);
  process.stderr.write(`bench-settled ${settled} heapUsed=${mib(m.heapUsed)} external=${mib(m.external)} arrayBuffers=${mib(m.arrayBuffers)} MiB\n`);
});
