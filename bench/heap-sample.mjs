/**
 * Preload: V8's sampling heap profiler over everything a proxy process allocates — what it
 * keeps and what its collections free — written to `$BENCH_HEAP_SAMPLE_DIR/<name>-<pid>
 * .heapprofile` when the process exits. Only in the proxies under test (Switchyard's primary
 * or single process, the Node reference); every other node process ignores it. Read it with
 * `bench/heapprofile-top.ts`. Bytes, not time: a busy machine does not change the figures.
 *
 *   BENCH_HEAP_SAMPLE_DIR=/tmp/heap NODE_OPTIONS="--import ./bench/heap-sample.mjs" \
 *     npm run bench -- --quick --modes pinned --suites conns --targets switchyard,node --routes 1000
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_HEAP_SAMPLE_DIR;
const argv = process.argv.join(' ');
const name = /bench\/proxy\/node-reference/.test(argv) ? 'node' : /apps\/proxy\/(dist|src)\/main/.test(argv) ? 'switchyard' : null;
if (dir && name && !process.env.SWITCHYARD_WORKER_ID) {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.enable');
  session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  // The in-process session answers synchronously, so this runs to the end inside 'exit'.
  process.on('exit', () => {
    session.post('HeapProfiler.stopSampling', (err, r) => {
      if (!err) writeFileSync(join(dir, `${name}-${process.pid}.heapprofile`), JSON.stringify(r.profile));
    });
  });
  // The Node reference has no SIGTERM handler of its own: without one, 'exit' never runs.
  if (name === 'node') process.on('SIGTERM', () => process.exit(0));
}
