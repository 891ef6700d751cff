import { describe, expect, it } from 'vitest';
import { connectionStrings, PASSTHROUGH_CA_FILE } from './connection-strings.js';

const host = 'orders.acme.db.example.com';

describe('connectionStrings (postgres)', () => {
  it('verifies the full chain against the downloaded CA in terminate mode and turns channel binding off for a TLS upstream', () => {
    const s = connectionStrings('postgres', host, 5432, { tlsMode: 'terminate', caFile: 'switchyard-ca.pem' });
    expect(s.psql).toBe(`psql "host=${host} port=5432 dbname=DBNAME user=USER sslmode=verify-full sslrootcert=switchyard-ca.pem channel_binding=disable"`);
    expect(s.uri).toBe(`postgresql://USER@${host}:5432/DBNAME?sslmode=verify-full&sslrootcert=switchyard-ca.pem&channel_binding=disable`);
    expect(s.jdbc).toContain('&channelBinding=disable');
    expect(s.nodePostgres).toContain(`servername: '${host}'`);
  });

  it('keeps channel binding when the proxy talks plaintext to the upstream (the proxy is then the TLS server)', () => {
    const s = connectionStrings('postgres', host, 5432, { tlsMode: 'terminate', caFile: 'switchyard-ca.pem', upstreamTls: false });
    expect(s.psql).not.toContain('channel_binding');
    expect(s.jdbc).not.toContain('channelBinding');
  });

  it('names the database owner’s CA placeholder in passthrough, and offers an unverified fallback', () => {
    const s = connectionStrings('postgres', host, 15432);
    expect(s.primary).toContain(`sslrootcert=${PASSTHROUGH_CA_FILE}`);
    expect(s.primary).not.toContain('channel_binding');
    expect(s.psqlRequire).toBe(`psql "host=${host} port=15432 dbname=DBNAME user=USER sslmode=require"`);
  });

  it('starts TLS directly on a tls listener, which cannot read an SSLRequest (libpq 17+, node-postgres, pgjdbc)', () => {
    const s = connectionStrings('postgres', host, 16443, { tlsMode: 'passthrough', caFile: null, directTls: true });
    expect(s.uri).toBe(`postgresql://USER@${host}:16443/DBNAME?sslmode=verify-full&sslrootcert=${PASSTHROUGH_CA_FILE}&sslnegotiation=direct`);
    expect(s.psql).toContain(' sslnegotiation=direct"');
    expect(s.psqlRequire).toContain(' sslnegotiation=direct"');
    expect(s.jdbc).toContain('&sslNegotiation=direct');
    expect(s.nodePostgres).toContain(`sslnegotiation: 'direct'`);
    expect(connectionStrings('postgres', host, 15432).uri).not.toContain('sslnegotiation');
  });

  it('uses the system trust store for publicly trusted certificates', () => {
    const s = connectionStrings('postgres', host, 5432, { tlsMode: 'terminate', caFile: null, upstreamTls: false });
    expect(s.primary).toBe(`postgresql://USER@${host}:5432/DBNAME?sslmode=verify-full&sslrootcert=system`);
  });
});
