#!/usr/bin/env node
// `npm start`, before its build: refuses at once when a stack is already running from this
// folder (packages/devstack/src/precheck.ts), so the build does not rewrite the files that
// stack runs from. Needs the previous build; without one, no stack can be running from it.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const built = join(dirname(fileURLToPath(import.meta.url)), '..', 'packages', 'devstack', 'dist', 'precheck.js');
if (existsSync(built)) (await import(pathToFileURL(built).href)).precheck();
