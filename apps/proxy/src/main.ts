/**
 * Proxy process entry point. SIGTERM/SIGINT: readiness turns false, listeners stop
 * accepting, open connections drain up to PROXY_DRAIN_TIMEOUT_MS, events are flushed, exit.
 */
import pino from 'pino';
import { loadConfig } from './config.js';
import { startProxy } from './proxy.js';

let config;
try {
  config = loadConfig();
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const log = pino({ level: config.logLevel, base: { svc: 'proxy', proxyId: config.proxyId } });
const proxy = await startProxy(config, log);

let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'shutting down');
    proxy.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
