import { describe, expect, it } from 'vitest';
import { clientTabs, endpointOption, fillConnection } from './connect';

// As the API returns them for a passthrough PostgreSQL route (packages/core connection-strings).
const host = 'orders.acme.db.example.com';
const pg = {
  primary: `postgresql://USER@${host}:5432/DBNAME?sslmode=verify-full&sslrootcert=DATABASE_CA.pem`,
  uri: `postgresql://USER@${host}:5432/DBNAME?sslmode=verify-full&sslrootcert=DATABASE_CA.pem`,
  psql: `psql "host=${host} port=5432 dbname=DBNAME user=USER sslmode=verify-full sslrootcert=DATABASE_CA.pem"`,
  jdbc: `jdbc:postgresql://${host}:5432/DBNAME?user=USER&ssl=true&sslmode=verify-full&sslrootcert=DATABASE_CA.pem`,
  nodePostgres: `new pg.Client({ host: '${host}', port: 5432, user: 'USER', database: 'DBNAME', ssl: { servername: '${host}' } })`,
  psqlRequire: `psql "host=${host} port=5432 dbname=DBNAME user=USER sslmode=require"`,
};

describe('connection strings', () => {
  it('lists one tab per client, the usual first, without the duplicate primary', () => {
    expect(clientTabs(pg).map((t) => t.label)).toEqual(['psql', 'URI', 'JDBC', 'node-postgres', 'psql (encrypt only)']);
    expect(clientTabs({ primary: 'x', redisCli: 'r', uri: 'u', dedicated: 'd' }).map((t) => t.key)).toEqual(['uri', 'redisCli', 'dedicated']);
  });

  it('fills user and database, keeping placeholders when empty', () => {
    expect(fillConnection('psql', pg.psql, { user: 'app', database: 'shop' })).toBe(
      `psql "host=${host} port=5432 dbname=shop user=app sslmode=verify-full sslrootcert=DATABASE_CA.pem"`,
    );
    expect(fillConnection('psql', pg.psql, { user: '', database: ' ' })).toBe(pg.psql);
  });

  it('never lets typed text break out of the string', () => {
    expect(fillConnection('psql', pg.psql, { user: 'x" ; rm -rf ~', database: "a'b" })).toBe(pg.psql);
  });

  it('puts the PASSWORD placeholder where a format carries a password, never a secret', () => {
    expect(fillConnection('uri', pg.uri, { user: 'app', database: 'shop' })).toBe(`postgresql://app:PASSWORD@${host}:5432/shop?sslmode=verify-full&sslrootcert=DATABASE_CA.pem`);
    expect(fillConnection('jdbc', pg.jdbc, { user: 'app', database: 'shop' })).toContain('?user=app&password=PASSWORD&ssl=true');
    expect(fillConnection('nodePostgres', pg.nodePostgres, { user: 'app', database: 'shop' })).toContain("user: 'app', password: process.env.PGPASSWORD,");
    expect(fillConnection('mongosh', 'mongosh "mongodb://USER@h:27017/?tls=true"', { user: '', database: '' })).toBe('mongosh "mongodb://USER:PASSWORD@h:27017/?tls=true"');
    // psql prompts; its string stays free of passwords.
    expect(fillConnection('psql', pg.psql, { user: 'app', database: 'shop' })).not.toContain('PASSWORD');
  });

  it('names the route in the startup options for clients without SNI', () => {
    expect(endpointOption(host, 'db.example.com')).toBe('options=endpoint=orders.acme');
    expect(endpointOption('pg.acme.com', 'db.example.com')).toBeNull();
  });
});
