export * from './result.js';
export * from './tls-client-hello.js';
export * from './tls-builders.js';
export * from './postgres.js';
export * from './proxy-protocol.js';
export * from './http.js';
export * from './postgres-session.js';
export * from './postgres-boundaries.js';
