import { describe, expect, it } from 'vitest';
import { canManage, roleIn, type Me } from './session';

const me = (isPlatformAdmin: boolean, tenants: Array<{ slug: string; role: string }>) =>
  ({ user: { id: 'u1' }, isPlatformAdmin, tenants: tenants.map((t) => ({ id: t.slug, name: t.slug, ...t })), csrfToken: 'c' }) as unknown as Me;

describe('roleIn', () => {
  it('is the membership’s role for a tenant user, and null elsewhere', () => {
    expect(roleIn(me(false, [{ slug: 'acme', role: 'admin' }]), 'acme')).toBe('admin');
    expect(roleIn(me(false, [{ slug: 'acme', role: 'admin' }]), 'globex')).toBeNull();
  });

  it('makes a platform admin an owner everywhere, also where they are only a member (as the API does)', () => {
    const admin = me(true, [{ slug: 'acme', role: 'member' }]);
    expect(roleIn(admin, 'acme')).toBe('owner');
    expect(canManage(roleIn(admin, 'acme'))).toBe(true);
    expect(roleIn(admin, 'globex')).toBe('owner');
  });
});
