import { describe, expect, it } from 'vitest';
import { changeRows, parseAuditFilters } from './filters';

describe('audit filters and changes', () => {
  it('keeps known filters from the URL', () => {
    expect(parseAuditFilters({ range: '7d', action: ' route.enable ', tenant: 'acme', junk: 1 })).toEqual({ range: '7d', action: 'route.enable', tenant: 'acme' });
    expect(parseAuditFilters({ range: '1y', actorId: '' })).toEqual({});
  });

  it('reads changes as before and after', () => {
    expect(changeRows({ enabled: { from: false, to: true }, sni: 'a.b', limits: { from: null, to: { max: 5 } } })).toEqual([
      { field: 'enabled', from: 'false', to: 'true' },
      { field: 'sni', from: '', to: 'a.b' },
      { field: 'limits', from: 'null', to: '{"max":5}' },
    ]);
    expect(changeRows(null)).toEqual([]);
    expect(changeRows([1, 2])).toEqual([]);
  });
});
