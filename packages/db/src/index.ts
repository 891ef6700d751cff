export * from './prisma.js';
export * from './migrate.js';
export * from './listen.js';
export * from './embedded.js';
export * from './config-version.js';
