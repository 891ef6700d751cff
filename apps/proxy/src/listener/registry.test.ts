import { describe, expect, it } from 'vitest';
import { ConnectionRegistry, type Closable, type OpenConnectionInfo } from './registry.js';

function conn(name: string, startedAt: number): Closable & { ended: string | null } {
  const c = {
    ended: null as string | null,
    closeForRoute: () => (c.ended = 'route'),
    terminateOnOrder: (by: string) => (c.ended = `by ${by}`),
    describe: (): OpenConnectionInfo => ({
      id: '',
      listener: 'tls',
      routeId: 'r',
      tenantId: 't',
      databaseId: 'd',
      clientAddress: '10.0.0.1',
      clientPort: 1,
      sni: name,
      mode: 'passthrough',
      startedAt,
      bytesIn: 0,
      bytesOut: 0,
    }),
  };
  return c;
}

describe('connection registry', () => {
  it('gives each routed connection an id prefixed by the worker, and terminates by id', () => {
    const reg = new ConnectionRegistry(3);
    const changes: number[] = [];
    reg.onChange(() => changes.push(reg.size));
    const a = conn('a', 1);
    const b = conn('b', 2);
    const idA = reg.add('r1', a);
    const idB = reg.add('r1', b);
    expect(idA).toBe('3.1');
    expect(idB).toBe('3.2');
    expect(reg.add('r1', a)).toBe('3.1');
    expect(reg.idOf(b)).toBe('3.2');
    expect(reg.snapshot(10).map((c) => c.sni)).toEqual(['b', 'a']);
    expect(reg.snapshot(1).map((c) => c.sni)).toEqual(['b']);
    expect(reg.terminate('3.1', 'admin-token')).toBe(true);
    expect(a.ended).toBe('by admin-token');
    reg.remove('r1', a);
    expect(reg.terminate('3.1', 'admin-token')).toBe(false);
    expect(reg.terminate('9.9', 'x')).toBe(false);
    expect(changes).toEqual([1, 2, 1]);
    expect(reg.closeRoute('r1')).toBe(1);
    expect(b.ended).toBe('route');
  });
});
