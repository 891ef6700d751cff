export { createTestDatabase, type TestDatabase } from './test-database.js';
export { getFreePort } from './ports.js';
