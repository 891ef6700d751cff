import { describe, expect, it } from 'vitest';
import { ApiError } from '../../lib/api/client';
import { apiQuery, csvHref, filterErrors, formatBytes, formatDuration, intervalFor, parseFilters, spanOf } from './filters';

const now = Date.parse('2026-12-06T12:00:00Z');

describe('connection filters in the URL', () => {
  it('keeps what is valid and drops the rest', () => {
    expect(parseFilters({ range: '7d', outcome: 'rejected', client: ' 10.0.0.0/8 ', live: 'true', bogus: 'x' })).toEqual({ range: '7d', outcome: 'rejected', client: '10.0.0.0/8', live: true });
    expect(parseFilters({ range: '2y', outcome: 'maybe', from: 'yesterday', to: '2026-12-06T00:00:00Z' })).toEqual({});
    // A span from a chart selection needs both ends in order.
    expect(parseFilters({ from: '2026-12-06T10:00:00Z', to: '2026-12-06T09:00:00Z' })).toEqual({});
    expect(parseFilters({ from: '2026-12-06T09:00:00Z', to: '2026-12-06T10:00:00Z' })).toEqual({ from: '2026-12-06T09:00:00.000Z', to: '2026-12-06T10:00:00.000Z' });
  });

  it('turns filters into the API query, platform-wide or for a tenant', () => {
    expect(spanOf({}, now)).toEqual({ from: '2026-12-05T12:00:00.000Z', to: '2026-12-06T12:00:00.000Z' });
    expect(apiQuery({ range: '1h', database: 'orders', outcome: 'ok', client: '10.1.2.3', sni: 'a.b' }, false, now)).toEqual({
      from: '2026-12-06T11:00:00.000Z',
      to: '2026-12-06T12:00:00.000Z',
      database: 'orders',
      outcome: 'ok',
      clientAddress: '10.1.2.3',
      sni: 'a.b',
    });
    // Platform view: a database only means something within a tenant.
    expect(apiQuery({ database: 'orders' }, true, now)).not.toHaveProperty('database');
    expect(apiQuery({ tenant: 'acme', database: 'orders', reason: 'unknown_host' }, true, now)).toMatchObject({ tenant: 'acme', database: 'orders', reason: 'unknown_host' });
    expect(csvHref('/api/v1/connection-events', { range: '1h', outcome: 'rejected' }, true, now)).toBe(
      '/api/v1/connection-events?from=2026-12-06T11%3A00%3A00.000Z&to=2026-12-06T12%3A00%3A00.000Z&outcome=rejected&format=csv',
    );
  });

  it('picks chart intervals of at most ~120 buckets', () => {
    const span = (ms: number) => ({ from: new Date(now - ms).toISOString(), to: new Date(now).toISOString() });
    expect(intervalFor(span(3600_000))).toBe('1m');
    expect(intervalFor(span(86_400_000))).toBe('15m');
    expect(intervalFor(span(7 * 86_400_000))).toBe('6h');
    expect(intervalFor(span(30 * 86_400_000))).toBe('6h');
    expect(intervalFor(span(90 * 86_400_000))).toBe('1d');
  });

  it('formats bytes and durations for people', () => {
    expect(formatBytes(900)).toBe('900 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 * 1024 * 1024)).toBe('5.0 GiB');
    expect(formatDuration(250)).toBe('250 ms');
    expect(formatDuration(65_000)).toBe('1 min 5 s');
    expect(formatDuration(3 * 3600_000 + 60_000)).toBe('3 h 1 min');
  });
});

describe('filterErrors', () => {
  const refused = (...details: Array<{ field?: string; message: string }>) => new ApiError(400, 'SY_VALIDATION', 'refused', details, 'r1');

  it('puts each refused query parameter on the filter it came from', () => {
    expect(filterErrors(refused({ field: 'querystring.clientAddress', message: 'is not an IP address or a CIDR with zero host bits (e.g. 10.42.0.0/16)' }))).toEqual({
      client: 'is not an IP address or a CIDR with zero host bits (e.g. 10.42.0.0/16)',
    });
    expect(filterErrors(refused({ field: 'querystring.from', message: 'range must not exceed 93 days' }))).toEqual({ range: 'The time range must not exceed 93 days' });
    expect(filterErrors(refused({ field: 'querystring.sni', message: 'must NOT have more than 253 characters' }, { field: 'querystring.outcome', message: 'must be one of …' }))).toEqual({
      sni: 'must NOT have more than 253 characters',
      outcome: 'must be one of …',
    });
    // Platform view: a tenant that does not exist.
    expect(filterErrors(new ApiError(404, 'SY_TENANT_NOT_FOUND', 'Tenant not found', [], 'r2'))).toEqual({ tenant: 'Tenant not found' });
  });

  it('leaves everything else to the page’s error state', () => {
    expect(filterErrors(null)).toBeNull();
    expect(filterErrors(new Error('boom'))).toBeNull();
    expect(filterErrors(new ApiError(403, 'SY_FORBIDDEN', 'no', [{ field: 'querystring.clientAddress', message: 'x' }], null))).toBeNull();
    expect(filterErrors(refused({ field: 'querystring.limit', message: 'must be <= 1000' }))).toBeNull();
    expect(filterErrors(refused({ field: 'querystring.constructor', message: 'x' }))).toBeNull();
    expect(filterErrors(refused({ message: 'no field' }))).toBeNull();
  });
});
