/**
 * Proxy process entry point. SIGTERM/SIGINT: readiness turns false, listeners stop
 * accepting, open connections drain up to PROXY_DRAIN_TIMEOUT_MS, events are flushed, exit 0.
 * The handlers are installed before anything starts, so a signal during startup is not the
 * default "die now": it stops the proxy as soon as it is up.
 *
 * PROXY_WORKERS=1 runs everything in this process. Above 1 (the default is one per core)
 * this process becomes the cluster primary (`cluster/primary.ts`: control database, admin
 * port, audit writer, caps) and forks that many workers, which run this same file and end
 * up in `cluster/worker.ts` (listeners only).
 */
import cluster from 'node:cluster';
import pino from 'pino';
import { loadConfig } from './config.js';

let config;
try {
  config = loadConfig();
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}

// Each role imports only its own modules (dynamic `import()`): a worker never loads the
// control-database side (pg, route sync, the audit writer), which every worker of a cluster
// would otherwise compile at start.
if (cluster.isWorker) {
  const log = pino({ level: config.logLevel, base: { svc: 'proxy', proxyId: config.proxyId, worker: config.workerId } });
  const { runWorker } = await import('./cluster/worker.js');
  await runWorker(config, log);
} else {
  const log = pino({ level: config.logLevel, base: { svc: 'proxy', proxyId: config.proxyId } });
  let proxy: { stop(): Promise<void> } | null = null;
  let stopSignal: NodeJS.Signals | null = null;
  const stop = (running: { stop(): Promise<void> }) =>
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (stopSignal) return;
      stopSignal = sig;
      log.info({ signal: sig }, 'shutting down');
      if (proxy) void stop(proxy);
    });
  }

  const { portsInRange, readLocalPortRange } = await import('./listener/port-range.js');
  const range = readLocalPortRange();
  const clash = portsInRange([...config.listeners.map((l) => l.port), config.admin.port, ...config.dedicatedPorts], range);
  if (clash.length > 0) {
    log.warn(
      { ports: clash, localPortRange: range },
      "ports to listen on lie inside the kernel's local port range: an outgoing connection may hold one when it is bound (EADDRINUSE); keep listener, admin and dedicated ports outside net.ipv4.ip_local_port_range (docs/scaling.md)",
    );
  }
  try {
    proxy = config.workers > 1 ? await (await import('./cluster/primary.js')).startClusterPrimary(config, log) : await (await import('./proxy.js')).startProxy(config, log);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'proxy failed to start');
    process.exit(1);
  }
  if (stopSignal) void stop(proxy);
}
