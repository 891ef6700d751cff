import { describe, expect, it } from 'vitest';
import { Balancer, fnv1a } from './balancer.js';

const eps = [
  { host: '10.0.0.1', port: 5432 },
  { host: '10.0.0.2', port: 5432 },
  { host: '10.0.0.3', port: 5432 },
];

function state(down: string[] = [], active: Record<string, number> = {}) {
  return { isUp: (k: string) => !down.includes(k), active: (k: string) => active[k] ?? 0 };
}

describe('Balancer', () => {
  it('rotates round-robin per route and tries every endpoint', () => {
    const b = new Balancer(state());
    const firsts = [0, 1, 2, 3].map(() => b.order('r', 'round-robin', eps, '1.1.1.1'));
    expect(firsts.map((o) => o[0])).toEqual([0, 1, 2, 0]);
    expect([...firsts[1]!].sort()).toEqual([0, 1, 2]);
    expect(b.order('other', 'round-robin', eps, '1.1.1.1')[0]).toBe(0);
  });

  it('skips endpoints marked down, and tries all when all are down', () => {
    const b = new Balancer(state(['10.0.0.2:5432']));
    for (let i = 0; i < 6; i++) expect(b.order('r', 'round-robin', eps, 'x')).not.toContain(1);
    const all = new Balancer(state(eps.map((e) => `${e.host}:${e.port}`)));
    expect([...all.order('r', 'round-robin', eps, 'x')].sort()).toEqual([0, 1, 2]);
  });

  it('prefers the endpoint with the fewest live connections, ties shared', () => {
    const b = new Balancer(state([], { '10.0.0.1:5432': 5, '10.0.0.2:5432': 1, '10.0.0.3:5432': 1 }));
    const firsts = new Set([0, 1, 2, 3].map(() => b.order('r', 'least-connections', eps, 'x')[0]));
    expect(firsts).toEqual(new Set([1, 2]));
    expect(b.order('r', 'least-connections', eps, 'x').at(-1)).toBe(0);
  });

  it('keeps a client on one endpoint with source-hash, moving only when it is down', () => {
    const b = new Balancer(state());
    const home = fnv1a('203.0.113.9') % 3;
    for (let i = 0; i < 5; i++) expect(b.order('r', 'source-hash', eps, '203.0.113.9')[0]).toBe(home);
    const key = `${eps[home]!.host}:5432`;
    const moved = new Balancer(state([key])).order('r', 'source-hash', eps, '203.0.113.9');
    expect(moved).not.toContain(home);
    expect(moved[0]).toBe((home + 1) % 3);
    // Different clients spread out.
    const homes = new Set(Array.from({ length: 50 }, (_, i) => b.order('r', 'source-hash', eps, `198.51.100.${i}`)[0]));
    expect(homes.size).toBe(3);
  });
});
