export { loadConfig, type ControllerConfig } from './config.js';
export { startController, type ControllerProcess } from './process.js';
export { translate, type TranslateInput, type TranslateOutput } from './translate/translate.js';
