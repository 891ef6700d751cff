/**
 * External programs the tests drive (real clients and servers, never mocks). A test that
 * needs one calls `requireTool` first: a missing program fails the test at once with the
 * Debian package to install — never a skip, never a timeout.
 */
import { spawnSync } from 'node:child_process';

/** Program → Debian package (the same table `.ci/run` installs from). */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  psql: 'postgresql-client',
  pgbench: 'postgresql-client',
  'redis-cli': 'redis-tools',
  'redis-server': 'redis-server',
  openssl: 'openssl',
  curl: 'curl',
  haproxy: 'haproxy',
  nginx: 'nginx',
  chromium: 'chromium',
  pebble: 'pebble',
  'pebble-challtestsrv': 'pebble',
  kubectl: 'kubernetes-client',
  promtool: 'prometheus',
  prometheus: 'prometheus',
};

/** The program's absolute path, or an error naming the package that provides it. */
export function requireTool(name: string): string {
  const r = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) throw new Error(`${name} is not installed; install the Debian package ${TOOL_PACKAGES[name] ?? name} (.ci/run does)`);
  return path;
}
