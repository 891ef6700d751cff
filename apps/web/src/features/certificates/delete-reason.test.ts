import { describe, expect, it } from 'vitest';
import { deleteBlockedReason } from './delete-reason';

const route = { id: 'r1', hostname: 'orders.acme.db.example.com', tlsMode: 'terminate' };

describe('deleteBlockedReason', () => {
  it('names the routes using the certificate', () => {
    expect(deleteBlockedReason({ id: 'c1', routes: [route] }, [])).toBe('In use by orders.acme.db.example.com: switch those routes to another certificate first');
  });

  it('names the ACME certificate that renews it, even when no route uses it (the API refuses that delete too)', () => {
    const acme = [{ hostname: 'orders.acme.db.example.com', certificate: { id: 'c1' } as never }, { hostname: 'x.acme.db.example.com', certificate: null }];
    expect(deleteBlockedReason({ id: 'c1', routes: [] }, acme)).toBe('Renewed by ACME for orders.acme.db.example.com: delete that ACME certificate (below) first');
    expect(deleteBlockedReason({ id: 'c2', routes: [] }, acme)).toBeNull();
  });
});
