export * from './engines.js';
export * from './hostnames.js';
export * from './cidr.js';
export * from './listeners.js';
export * from './routes.js';
export * from './connection-strings.js';
export * from './control.js';
export * from './config-problems.js';
