export { buildApp, type App, type BuildOptions } from './app.js';
export { loadConfig, type ApiConfig } from './config.js';
export { generateToken, hashToken } from './lib/tokens.js';
export { buildTlsAlpnCertificate } from './modules/acme/acme.ca.js';
