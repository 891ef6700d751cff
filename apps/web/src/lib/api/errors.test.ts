import { describe, expect, it } from 'vitest';
import { ApiError } from './client';
import { filterFieldErrors, splitApiError } from './errors';

const err = (code: string, message: string, details: Array<{ field?: string; message: string }> = []) => new ApiError(422, code, message, details, 'req-1');
const form = (p: string) => ['hostname', 'sourceCidrs.1'].includes(p);

describe('splitApiError', () => {
  it('puts each detail on the field it names (body. prefix dropped)', () => {
    expect(splitApiError(err('SY_VALIDATION', 'x', [{ field: 'body.sourceCidrs.1', message: 'is not a CIDR' }]), form)).toEqual({ fields: { 'sourceCidrs.1': 'is not a CIDR' }, rest: [] });
  });

  it('keeps details for fields the form lacks for the toast', () => {
    expect(splitApiError(err('SY_VALIDATION', 'x', [{ field: 'body.hostname', message: 'is taken' }, { field: 'body.other', message: 'bad' }]), form)).toEqual({
      fields: { hostname: 'is taken' },
      rest: ['body.other: bad'],
    });
  });

  it('maps a code without details to its field', () => {
    expect(splitApiError(err('SY_HOSTNAME_TAKEN', 'The host name is taken'), form, { SY_HOSTNAME_TAKEN: 'hostname' })).toEqual({ fields: { hostname: 'The host name is taken' }, rest: [] });
  });

  it('sends everything else to the toast with the message', () => {
    expect(splitApiError(err('SY_INTERNAL', 'Internal server error'), form)).toEqual({ fields: {}, rest: ['Internal server error'] });
    expect(splitApiError(new Error('boom'), form)).toEqual({ fields: {}, rest: ['boom'] });
  });
});

describe('filterFieldErrors', () => {
  const fieldOf = { action: 'action', targetType: 'targetType' } as const;

  it('puts a refused query parameter on its filter, and a code without details on the one it names', () => {
    const refused = new ApiError(400, 'SY_VALIDATION', 'x', [{ field: 'querystring.action', message: 'must match pattern "^[a-z_.-]{1,64}$"' }], 'r1');
    expect(filterFieldErrors(refused, fieldOf)).toEqual({ action: 'must match pattern "^[a-z_.-]{1,64}$"' });
    expect(filterFieldErrors(new ApiError(404, 'SY_TENANT_NOT_FOUND', 'Tenant not found', [], 'r2'), fieldOf, { SY_TENANT_NOT_FOUND: 'tenant' })).toEqual({ tenant: 'Tenant not found' });
  });

  it('is null when no filter is named', () => {
    expect(filterFieldErrors(null, fieldOf)).toBeNull();
    expect(filterFieldErrors(new ApiError(403, 'SY_FORBIDDEN', 'x', [], null), fieldOf)).toBeNull();
    expect(filterFieldErrors(new ApiError(400, 'SY_VALIDATION', 'x', [{ field: 'querystring.limit', message: 'x' }, { field: 'body.action', message: 'x' }], null), fieldOf)).toBeNull();
  });
});
