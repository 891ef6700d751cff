export * from './certificates.js';
export * from './keyring.js';
export * from './validate.js';
