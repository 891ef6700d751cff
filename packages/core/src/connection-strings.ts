/**
 * Ready-to-paste connection strings for a route. Every client must send SNI, so hosts are
 * always the route hostname, never an IP address.
 */
import type { Engine } from './engines.js';

export interface ConnectionStrings {
  /** The one string a user most likely wants. */
  primary: string;
  [client: string]: string;
}

export function connectionStrings(engine: Engine, hostname: string, port: number): ConnectionStrings {
  switch (engine) {
    case 'postgres': {
      const uri = `postgresql://USER@${hostname}:${port}/DBNAME?sslmode=require`;
      return {
        primary: uri,
        uri,
        psql: `psql "host=${hostname} port=${port} dbname=DBNAME user=USER sslmode=require"`,
      };
    }
    case 'redis':
      return {
        primary: `rediss://${hostname}:${port}`,
        uri: `rediss://${hostname}:${port}`,
        redisCli: `redis-cli -h ${hostname} -p ${port} --tls --sni ${hostname}`,
      };
    case 'mongodb': {
      const uri = `mongodb://USER@${hostname}:${port}/?tls=true&directConnection=true`;
      return { primary: uri, uri, mongosh: `mongosh "${uri}"` };
    }
    case 'kubernetes-api':
      return {
        primary: `https://${hostname}:${port}`,
        server: `https://${hostname}:${port}`,
        kubectl: `kubectl --server=https://${hostname}:${port} get --raw /version`,
      };
    case 'http': {
      const url = `http://${hostname}${port === 80 ? '' : `:${port}`}/`;
      return { primary: url, url, curl: `curl ${url}` };
    }
    case 'tls':
      return {
        primary: `${hostname}:${port}`,
        opensslSClient: `openssl s_client -connect ${hostname}:${port} -servername ${hostname}`,
      };
  }
}
