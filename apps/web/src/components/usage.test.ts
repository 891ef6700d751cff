import { describe, expect, it } from 'vitest';
import { atLimit, limitLines, usageText } from './usage';

describe('usage against limits', () => {
  const tenant = { maxDatabases: 10, maxExternalAccess: null, maxDedicatedPorts: 1, usage: { databases: 4, externalAccess: 3, dedicatedPorts: 2 } };

  it('says "n of max" with a limit and just the count without one', () => {
    expect(limitLines(tenant).map(usageText)).toEqual(['4 of 10 databases', '3 with external access', '2 of 1 dedicated ports']);
  });

  it('is at the limit when the next one would be refused, also past a lowered limit; never without a limit', () => {
    expect(limitLines(tenant).map(atLimit)).toEqual([false, false, true]);
    expect(atLimit({ what: 'databases', used: 5, max: 5 })).toBe(true);
    expect(atLimit({ what: 'databases', used: 0, max: 0 })).toBe(true);
  });
});
