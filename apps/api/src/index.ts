export { buildApp, buildDomainServices, type App, type BuildOptions, type DomainServices } from './app.js';
export type { Actor, Principal } from './lib/access.js';
export { AppError, type ErrorCode } from './lib/errors.js';
export { ownerOf, type KubernetesOwner, type Owner } from './lib/ownership.js';
export type { DatabaseResponse, CreateDatabaseBody } from './modules/databases/databases.schemas.js';
export type { ExternalAccessResponse, PutExternalAccessBody } from './modules/external-access/external-access.schemas.js';
export { loadConfig, type ApiConfig } from './config.js';
export { generateToken, hashToken } from './lib/tokens.js';
export { buildTlsAlpnCertificate } from './modules/acme/acme.ca.js';
