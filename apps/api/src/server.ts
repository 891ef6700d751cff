/**
 * API process entry point: validate config, build, listen (the API port, and the metrics port
 * apart from it), close cleanly on signals.
 */
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';

let config;
try {
  config = loadConfig();
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const app = await buildApp({ config });
await app.listen({ host: config.host, port: config.port });
let metricsServer: MetricsServer | null = null;
try {
  metricsServer = await startMetricsServer(app.metrics, config.metrics, app.log);
} catch (err) {
  // A taken or unbindable metrics port is a deployment error: say so and stop, rather than
  // run unmonitored.
  app.log.fatal({ err: (err as Error).message, host: config.metrics.host, port: config.metrics.port }, 'cannot listen for metrics (API_METRICS_HOST / API_METRICS_PORT; 0 disables)');
  await app.close();
  process.exit(1);
}
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    app.log.info({ signal: sig }, 'shutting down');
    Promise.all([app.close(), metricsServer?.close()]).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
