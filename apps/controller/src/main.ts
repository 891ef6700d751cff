/**
 * Controller process entry point. Without a kubeconfig outside a cluster there is nothing to
 * watch: it says so and exits 0 (so `npm start` on a laptop without Kubernetes is fine).
 */
import pino from 'pino';
import { loadConfig } from './config.js';
import { startController } from './process.js';

let config;
try {
  config = loadConfig();
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const log = pino({ level: config.logLevel, name: 'controller' });
if (!config.inCluster && !config.kubeconfig) {
  log.info('no kubeconfig (KUBECONFIG or ~/.kube/config) and not in a cluster: the Kubernetes controller is not started');
  process.exit(0);
}
const running = await startController(config, log);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    log.info({ signal: sig }, 'shutting down: releasing leadership');
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
