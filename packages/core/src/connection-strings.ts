/**
 * Ready-to-paste connection strings for a route, per client. Every client must send SNI, so
 * hosts are always the route hostname, never an IP address.
 *
 * Where the certificate clients see is not publicly trusted (terminate mode with a platform
 * CA or self-signed certificate), the strings verify it fully against a CA file the user
 * downloads (`trust.caFile`), e.g. libpq `sslmode=verify-full sslrootcert=<file>`. In
 * passthrough mode the database's own certificate is presented; its CA is the database
 * owner's, so the strings name a placeholder file.
 */
import type { Engine, TlsMode } from './engines.js';

export interface ConnectionStrings {
  /** The one string a user most likely wants. */
  primary: string;
  [client: string]: string;
}

export interface ConnectionTrust {
  tlsMode: TlsMode;
  /**
   * File name clients should verify with (the downloaded CA or self-signed certificate);
   * null when the certificate is publicly trusted (system roots).
   */
  caFile: string | null;
  /** The CA PEM itself, for formats that embed it (kubeconfig). */
  caPem?: string | null;
  /**
   * Terminate mode: the proxy speaks TLS to the upstream (default true). SCRAM channel binding
   * (SCRAM-SHA-256-PLUS) binds to the TLS session the *server* sees — the proxy's — so it
   * cannot pass a terminating proxy; libpq and pgjdbc strings then turn it off.
   */
  upstreamTls?: boolean;
  /**
   * The route is on a `tls` listener, which expects a TLS ClientHello first: PostgreSQL
   * clients must start TLS directly (`sslnegotiation=direct`, libpq / node-postgres 17+
   * semantics, ALPN `postgresql`) instead of sending an SSLRequest, which such a listener
   * cannot read. `postgres` listeners take both.
   */
  directTls?: boolean;
}

/** Placeholder for the database server's own CA in passthrough mode. */
export const PASSTHROUGH_CA_FILE = 'DATABASE_CA.pem';

export function connectionStrings(engine: Engine, hostname: string, port: number, trust: ConnectionTrust = { tlsMode: 'passthrough', caFile: null }): ConnectionStrings {
  const caFile = trust.tlsMode === 'passthrough' ? PASSTHROUGH_CA_FILE : trust.caFile;
  // libpq 16+ understands sslrootcert=system (the OS trust store) for public certificates.
  const rootcert = caFile ?? 'system';
  switch (engine) {
    case 'postgres': {
      const noBinding = trust.tlsMode === 'terminate' && trust.upstreamTls !== false;
      const direct = trust.directTls === true;
      const uri = `postgresql://USER@${hostname}:${port}/DBNAME?sslmode=verify-full&sslrootcert=${rootcert}${noBinding ? '&channel_binding=disable' : ''}${direct ? '&sslnegotiation=direct' : ''}`;
      const out: ConnectionStrings = {
        primary: uri,
        uri,
        psql: `psql "host=${hostname} port=${port} dbname=DBNAME user=USER sslmode=verify-full sslrootcert=${rootcert}${noBinding ? ' channel_binding=disable' : ''}${direct ? ' sslnegotiation=direct' : ''}"`,
        jdbc: `jdbc:postgresql://${hostname}:${port}/DBNAME?user=USER&ssl=true&sslmode=verify-full${caFile ? `&sslrootcert=${caFile}` : ''}${noBinding ? '&channelBinding=disable' : ''}${direct ? '&sslNegotiation=direct' : ''}`,
        nodePostgres:
          `new pg.Client({ host: '${hostname}', port: ${port}, user: 'USER', database: 'DBNAME', ` +
          `ssl: { servername: '${hostname}'${caFile ? `, ca: fs.readFileSync('${caFile}', 'utf8')` : ''} }${direct ? `, sslnegotiation: 'direct'` : ''} })`,
      };
      if (trust.tlsMode === 'passthrough') {
        // Encrypted without verifying the database's certificate (when its CA is not at hand).
        out.psqlRequire = `psql "host=${hostname} port=${port} dbname=DBNAME user=USER sslmode=require${direct ? ' sslnegotiation=direct' : ''}"`;
      }
      return out;
    }
    case 'redis': {
      const cacert = caFile ? ` --cacert ${caFile}` : '';
      return {
        primary: `rediss://${hostname}:${port}`,
        uri: `rediss://${hostname}:${port}`,
        redisCli: `redis-cli -h ${hostname} -p ${port} --tls --sni ${hostname}${cacert}`,
      };
    }
    case 'mongodb': {
      const uri = `mongodb://USER@${hostname}:${port}/?tls=true&directConnection=true${caFile ? `&tlsCAFile=${caFile}` : ''}`;
      return { primary: uri, uri, mongosh: `mongosh "${uri}"` };
    }
    case 'kubernetes-api': {
      const server = `https://${hostname}:${port}`;
      const ca = trust.tlsMode === 'terminate' && trust.caPem ? `\n    certificate-authority-data: ${Buffer.from(trust.caPem).toString('base64')}` : caFile ? `\n    certificate-authority: ${caFile}` : '';
      const kubeconfig = [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: ${hostname}`,
        '  cluster:',
        `    server: ${server}${ca}`,
        `    tls-server-name: ${hostname}`,
        'contexts:',
        `- name: ${hostname}`,
        '  context:',
        `    cluster: ${hostname}`,
        '    user: USER',
        `current-context: ${hostname}`,
        'users:',
        '- name: USER',
        '  user:',
        '    token: TOKEN',
        '',
      ].join('\n');
      return {
        primary: server,
        server,
        kubectl: `kubectl --server=${server}${caFile ? ` --certificate-authority=${caFile}` : ''} get --raw /version`,
        kubeconfig,
      };
    }
    case 'http': {
      const url = `http://${hostname}${port === 80 ? '' : `:${port}`}/`;
      return { primary: url, url, curl: `curl ${url}` };
    }
    case 'tls':
      return {
        primary: `${hostname}:${port}`,
        opensslSClient: `openssl s_client -connect ${hostname}:${port} -servername ${hostname}${caFile ? ` -CAfile ${caFile} -verify_return_error` : ''}`,
        curl: `curl${caFile ? ` --cacert ${caFile}` : ''} https://${hostname}:${port}/`,
      };
  }
}
