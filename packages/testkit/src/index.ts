export * from './upstreams.js';
export * from './clients.js';
export * from './certs.js';
export * from './control-db.js';
export { getFreePort, createTestDatabase, type TestDatabase } from '@switchyard/db/testing';
export * from './tools.js';
export * from './poll.js';
