/**
 * The proxy's pool on the control database (route snapshots, heartbeats, connection
 * events): small and bounded, named in pg_stat_activity, errors logged without killing the
 * process (the proxy keeps serving its last table while the database is away).
 */
import pg from 'pg';
import type { Logger } from 'pino';
import type { ProxyConfig } from '../config.js';

export function createControlPool(config: ProxyConfig, log: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.databaseUrl,
    max: 3,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    application_name: `switchyard-proxy ${config.proxyId}`,
  });
  pool.on('error', (err) => log.warn({ err: err.message }, 'control database pool error'));
  return pool;
}
