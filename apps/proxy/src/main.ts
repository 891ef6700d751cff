/**
 * Proxy process entry point. SIGTERM/SIGINT: readiness turns false, listeners stop
 * accepting, open connections drain up to PROXY_DRAIN_TIMEOUT_MS, events are flushed, exit 0.
 * The handlers are installed before anything starts, so a signal during startup is not the
 * default "die now": it stops the proxy as soon as it is up.
 */
import pino from 'pino';
import { loadConfig } from './config.js';
import { startProxy, type RunningProxy } from './proxy.js';

let config;
try {
  config = loadConfig();
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const log = pino({ level: config.logLevel, base: { svc: 'proxy', proxyId: config.proxyId } });

let proxy: RunningProxy | null = null;
let stopSignal: NodeJS.Signals | null = null;
const stop = (running: RunningProxy) =>
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

proxy = await startProxy(config, log);
if (stopSignal) void stop(proxy);
