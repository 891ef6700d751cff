/**
 * The Connect panel's strings. The API builds one string per client for the route (hostname,
 * port, TLS verification, CA file name: the API is their one source); here the placeholders
 * become what the user typed (user, database), and formats that carry a password get the
 * placeholder PASSWORD — never a real secret.
 */

export interface ClientTab {
  /** Key in the API's `connection` record. */
  key: string;
  label: string;
  /** Shown under the string. */
  note?: string;
}

const LABELS: Record<string, ClientTab> = {
  psql: { key: 'psql', label: 'psql', note: 'psql asks for the password (or set PGPASSWORD).' },
  uri: { key: 'uri', label: 'URI' },
  jdbc: { key: 'jdbc', label: 'JDBC' },
  nodePostgres: { key: 'nodePostgres', label: 'node-postgres', note: 'Needs `import pg from "pg"` and `import fs from "node:fs"`.' },
  psqlRequire: { key: 'psqlRequire', label: 'psql (encrypt only)', note: 'Encrypted but the server is not verified: for a first try when the database’s CA is not at hand.' },
  redisCli: { key: 'redisCli', label: 'redis-cli', note: 'Add --askpass to be asked for the password.' },
  mongosh: { key: 'mongosh', label: 'mongosh', note: 'mongosh asks for the password.' },
  kubeconfig: { key: 'kubeconfig', label: 'kubeconfig', note: 'Save as a file and use with KUBECONFIG=<file>; TOKEN is your service account token.' },
  kubectl: { key: 'kubectl', label: 'kubectl' },
  server: { key: 'server', label: 'Server URL' },
  url: { key: 'url', label: 'URL' },
  curl: { key: 'curl', label: 'curl' },
  opensslSClient: { key: 'opensslSClient', label: 'openssl s_client' },
  dedicated: { key: 'dedicated', label: 'Without SNI (dedicated port)', note: 'For clients that cannot send SNI: the route’s own port, no hostname needed.' },
};

/** Tabs in a stable order: the usual client first, `primary` (a duplicate) left out. */
export function clientTabs(connection: Record<string, string>): ClientTab[] {
  const order = Object.keys(LABELS);
  return Object.keys(connection)
    .filter((k) => k !== 'primary')
    .sort((a, b) => (order.indexOf(a) === -1 ? 99 : order.indexOf(a)) - (order.indexOf(b) === -1 ? 99 : order.indexOf(b)))
    .map((k) => LABELS[k] ?? { key: k, label: k });
}

export interface Fill {
  user: string;
  database: string;
}

/** Characters that would break out of a connection string or a shell quote are left out. */
function safe(value: string, placeholder: string): string {
  const v = value.trim();
  return v && /^[A-Za-z0-9_.@+-]+$/.test(v) ? v : placeholder;
}

const PASSWORD = 'PASSWORD';

export function fillConnection(key: string, template: string, fill: Fill): string {
  const user = safe(fill.user, 'USER');
  const database = safe(fill.database, 'DBNAME');
  let s = template.replace(/\bUSER\b/g, user).replace(/\bDBNAME\b/g, database);
  switch (key) {
    case 'uri':
    case 'mongosh':
      // scheme://USER@host → scheme://USER:PASSWORD@host
      s = s.replace(/^((?:mongosh ")?[a-z]+:\/\/)([^:@/]+)@/, `$1$2:${PASSWORD}@`);
      break;
    case 'jdbc':
      s = s.replace(/\?user=([^&]+)/, `?user=$1&password=${PASSWORD}`);
      break;
    case 'nodePostgres':
      s = s.replace(/(user: '[^']*',)/, `$1 password: process.env.PGPASSWORD,`);
      break;
  }
  return s;
}

/** Whether the engine's strings name a user and database the user can fill in. */
export function hasUserAndDatabase(engine: string): boolean {
  return engine === 'postgres';
}

/** Terminate mode on PostgreSQL: clients without SNI name the route in the startup options. */
export function endpointOption(hostname: string, baseDomain: string): string | null {
  if (!hostname.endsWith(`.${baseDomain}`)) return null;
  return `options=endpoint=${hostname.slice(0, -(baseDomain.length + 1))}`;
}
