import { createServer } from 'node:net';

/**
 * A port free right now, for a server that another process binds a moment later (a proxy
 * listener, a dedicated-port pool). Chosen below the kernel's ephemeral range
 * (net.ipv4.ip_local_port_range, 32768–60999 by default): there, port-0 servers and outgoing
 * connections in concurrently running tests could take it in the window before it is bound
 * (seen: a dedicated port answered by another test's HTTP server). Each Vitest worker
 * (VITEST_POOL_ID) draws from its own slice, and a process never hands out a port twice.
 */
const LOW = 20_000;
const HIGH = 32_767;
const SLICES = 16;
const handedOut = new Set<number>();

function sliceOf(): [number, number] {
  const id = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0);
  if (!Number.isInteger(id) || id <= 0) return [LOW, HIGH];
  const size = Math.floor((HIGH - LOW + 1) / SLICES);
  const start = LOW + ((id - 1) % SLICES) * size;
  return [start, start + size - 1];
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export async function getFreePort(): Promise<number> {
  const [lo, hi] = sliceOf();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = lo + Math.floor(Math.random() * (hi - lo + 1));
    if (handedOut.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${lo}-${hi}`);
}
