/**
 * Runs the dashboard's end-to-end stack until Ctrl-C, for working on the dashboard by hand:
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node --conditions=switchyard-source --import tsx e2e/web/support/serve.ts
 * (without DATABASE_URL an embedded PostgreSQL is started). Prints the URL and sign-ins.
 */
import { scratchDatabase } from '../../../bench/lib.js';
import { PASSWORD, startWebStack, USERS } from './web-stack.js';

const db = await scratchDatabase('sy_web_serve');
const stack = await startWebStack(db.url);
console.log(`dashboard ${stack.url}/  sign in as ${Object.values(USERS).join(', ')} / ${PASSWORD}; upstream 127.0.0.1:${stack.upstream.port}; proxy postgres :${stack.proxy.ports.postgres}`);
const stop = async () => {
  await stack.close();
  await db.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
