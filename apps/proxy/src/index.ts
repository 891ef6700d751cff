export { startProxy, type RunningProxy } from './proxy.js';
export { loadConfig, type ProxyConfig } from './config.js';
