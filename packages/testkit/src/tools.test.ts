import { describe, expect, it } from 'vitest';
import { requireTool, TOOL_PACKAGES } from './tools.js';

describe('requireTool', () => {
  it('returns the absolute path of an installed program', () => {
    expect(requireTool('sh')).toMatch(/^\/.*\/sh$/);
  });

  it('fails at once naming the Debian package of a missing program', () => {
    expect(() => requireTool('switchyard-no-such-program')).toThrow(/switchyard-no-such-program is not installed; install the Debian package switchyard-no-such-program/);
  });

  it('knows the package of every program the tests drive', () => {
    expect(TOOL_PACKAGES.haproxy).toBe('haproxy');
    expect(TOOL_PACKAGES['pebble-challtestsrv']).toBe('pebble');
    expect(TOOL_PACKAGES.pgbench).toBe('postgresql-client');
  });

  it('does not run what it is asked to look up', () => {
    expect(() => requireTool('x; echo pwned')).toThrow(/not installed/);
  });
});
