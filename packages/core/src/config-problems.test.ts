import { describe, expect, it } from 'vitest';
import { configProblems } from './config-problems.js';

describe('configProblems', () => {
  it("collects the schema's problems and the checks' together, naming each variable", () => {
    const c = configProblems<{ A?: string }>({ success: false, error: { issues: [{ path: ['PORT'], message: 'expected a number' }] } }, { A: 'x' });
    expect(c.env.A).toBe('x');
    expect(c.check('LISTENERS', () => JSON.parse('{'))).toBeUndefined();
    expect(c.check('OTHER', () => 7)).toBe(7);
    expect(c.problems).toEqual(['PORT: expected a number', expect.stringMatching(/^LISTENERS: /)]);
  });

  it('hands back the parsed environment when the schema passed', () => {
    const c = configProblems({ success: true, data: { PORT: 8080 } }, { PORT: '8080' });
    expect(c.env.PORT).toBe(8080);
    expect(c.problems).toEqual([]);
  });
});
