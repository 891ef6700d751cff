import { describe, expect, it } from 'vitest';
import { ApiError } from './client';
import { splitApiError } from './errors';

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
