import { describe, expect, it } from 'vitest';
import { parseLocalPortRange, portsInRange } from './port-range.js';

describe('local port range', () => {
  it('parses the kernel file, refusing what is not a range', () => {
    expect(parseLocalPortRange('32768\t60999\n')).toEqual([32768, 60999]);
    expect(parseLocalPortRange('20000 65535')).toEqual([20000, 65535]);
    for (const bad of [null, '', '60999 32768', '0 100', '1 70000', 'a b', '32768']) expect(parseLocalPortRange(bad), String(bad)).toBeNull();
  });

  it('names the listening ports inside it, once each, in order', () => {
    expect(portsInRange([16443, 15432, 9480], [20000, 65535])).toEqual([]);
    expect(portsInRange([40000, 15432, 20000, 40000, 65535], [20000, 65535])).toEqual([20000, 40000, 65535]);
    expect(portsInRange([40000], null)).toEqual([]);
  });
});
