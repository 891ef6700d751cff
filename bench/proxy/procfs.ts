/**
 * What a process tree costs, read from /proc: CPU time (every thread of every process in the
 * tree) and resident memory. Used around measurement windows, so
 * the figures are the proxy's own and not the load generator's.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second for utime/stime (`getconf CLK_TCK`; 100 on Linux everywhere). */
const CLK_TCK = 100;

function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The pid and all its living descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (!f) continue;
    const ppid = Number(f[1]); // field 4 of stat; f[0] is field 3 (state)
    let list = children.get(ppid);
    if (!list) children.set(ppid, (list = []));
    list.push(Number(name));
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return out;
}

/**
 * CPU microseconds (user + system) used so far by the tree under `root`. Read from each
 * thread's `schedstat` (the scheduler's own run time, in nanoseconds) where the kernel has it:
 * `stat`'s utime + stime come in clock ticks (10 ms), which alone moved a short window's CPU
 * per connection by several per cent (a window with 160 ms of proxy CPU is 16 ticks ± 1).
 * Falls back to the ticks where `schedstat` is missing (kernels without CONFIG_SCHED_INFO).
 */
export function treeCpuMicros(root: number): number {
  let micros = 0;
  for (const pid of processTree(root)) micros += processCpuMicros(pid);
  return micros;
}

/** Whether this kernel keeps per-thread run times (CONFIG_SCHED_INFO). */
const SCHEDSTAT = existsSync('/proc/self/schedstat');

/** One process, every thread: schedstat's run time in µs, or utime + stime in ticks. */
function processCpuMicros(pid: number): number {
  if (!SCHEDSTAT) {
    const f = statFields(pid);
    return f ? ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK : 0; // utime, stime = fields 14, 15
  }
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0; // exited meanwhile
  }
  let ns = 0;
  for (const tid of tids) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1000;
}

/** Resident set size in bytes of the tree under `root`. */
export function treeRssBytes(root: number): number {
  let kb = 0;
  for (const pid of processTree(root)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // exited meanwhile
    }
  }
  return kb * 1024;
}

/** Moves every thread of every process in the tree to `cpus` (a taskset list, e.g. "1"). */
export function pinTree(root: number, cpus: string): void {
  for (const pid of processTree(root)) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], {
        stdio: 'ignore',
      });
    } catch {
      // exited meanwhile
    }
  }
}

/** This process's open-file limit (soft, hard) from /proc/self/limits. */
export function fdLimit(): { soft: number; hard: number } {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line ?? '').split(/\s+/).slice(3, 5).map(Number);
  return { soft: soft ?? 1024, hard: hard ?? 1024 };
}

/**
 * Raises this process's open-file limit to `want` (soft and hard) where allowed — root, or a
 * hard limit already that high; the benchmark's children inherit it. `prlimit` sets it on the
 * running process (Node has no setrlimit). Returns the soft limit now in force.
 */
export function raiseFdLimit(want: number): number {
  if (fdLimit().soft >= want) return fdLimit().soft;
  for (const spec of [`${want}:${want}`, `${Math.min(want, fdLimit().hard)}:`]) {
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${spec}`], { stdio: 'ignore' });
      break;
    } catch {
      // not allowed (not root): try the next, then live with what there is
    }
  }
  return fdLimit().soft;
}
