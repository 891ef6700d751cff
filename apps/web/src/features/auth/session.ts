/** Server state of the session: who is signed in, their tenants and roles, and the CSRF token. */
import { queryOptions, useMutation, useQueryClient, useSuspenseQuery } from '@tanstack/react-query';
import { api, ApiError, call, setCsrfToken } from '../../lib/api/client';
import type { paths } from '../../lib/api/schema';

export type Me = paths['/api/v1/auth/me']['get']['responses'][200]['content']['application/json'];
export type Role = 'owner' | 'admin' | 'member';

export const sessionKeys = { me: ['session', 'me'] as const };

/** The session, or null when signed out (401). */
export const meQuery = queryOptions({
  queryKey: sessionKeys.me,
  queryFn: async (): Promise<Me | null> => {
    try {
      const me = await call(api.GET('/api/v1/auth/me'));
      setCsrfToken(me.csrfToken, me.user?.id ?? null);
      return me;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        setCsrfToken(null);
        return null;
      }
      throw err;
    }
  },
  staleTime: 60_000,
});

export function useMe(): Me {
  const { data } = useSuspenseQuery(meQuery);
  if (!data) throw new ApiError(401, 'SY_UNAUTHENTICATED', 'Signed out', [], null);
  return data;
}

/**
 * The caller's role in a tenant; platform admins act as owners everywhere — also in a tenant
 * they are a member of with a lower role, as the API treats them (lib/access.ts).
 */
export function roleIn(me: Me, tenant: string): Role | null {
  if (me.isPlatformAdmin) return 'owner';
  const t = me.tenants.find((x) => x.slug === tenant);
  return t ? (t.role as Role) : null;
}

/** Admins and owners change things; members only look. */
export function canManage(role: Role | null): boolean {
  return role === 'owner' || role === 'admin';
}

export const READ_ONLY_REASON = 'Your role in this tenant is member: read-only. An admin or owner can change this.';

export function useLogin() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (body: { email: string; password: string }) => call(api.POST('/api/v1/auth/login', { body })),
    onSuccess: (me) => {
      setCsrfToken(me.csrfToken, me.user?.id ?? null);
      qc.clear();
      qc.setQueryData(sessionKeys.me, me);
    },
  });
}

export function useLogout() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async () => call(api.POST('/api/v1/auth/logout')),
    onSettled: () => {
      setCsrfToken(null);
      qc.clear();
      qc.setQueryData(sessionKeys.me, null);
    },
  });
}

export function useChangePassword() {
  return useMutation({
    mutationFn: async (body: { currentPassword: string; newPassword: string }) => call(api.POST('/api/v1/auth/password', { body })),
  });
}
