/** The tenant roles as the dashboard offers them, and the API's rule on granting them. */
import type { Role } from './session';

export const ROLES: ReadonlyArray<{ value: Role; label: string }> = [
  { value: 'member', label: 'member — read only' },
  { value: 'admin', label: 'admin — manage databases and access' },
  { value: 'owner', label: 'owner — everything, including members' },
];

/**
 * The roles someone with `mine` may hand out (to a member or a token): owners (and platform
 * admins, who act as owners) all; admins up to admin — the API refuses anything above the
 * caller's own role, so the owner choice is shown disabled instead of failing in a toast.
 */
export function roleChoices(mine: Role | null) {
  return ROLES.map((r) => (r.value === 'owner' && mine !== 'owner' ? { ...r, disabled: true } : r));
}
