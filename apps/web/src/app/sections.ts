/** The navigation: a tenant's sections, and platform administration for platform admins. */
export const SECTIONS = [
  { to: '/t/$tenant/databases', label: 'Databases', segment: 'databases' },
  { to: '/t/$tenant/certificates', label: 'Certificates', segment: 'certificates' },
  { to: '/t/$tenant/tokens', label: 'API tokens', segment: 'tokens' },
  { to: '/t/$tenant/members', label: 'Members', segment: 'members' },
  { to: '/t/$tenant/connections', label: 'Connections', segment: 'connections' },
  { to: '/t/$tenant/check', label: 'Check connection', segment: 'check' },
  { to: '/t/$tenant/audit', label: 'Audit trail', segment: 'audit' },
] as const;

export type SectionRoute = (typeof SECTIONS)[number]['to'];

export const ADMIN_SECTIONS = [
  { to: '/admin/connections', label: 'All connections' },
  { to: '/admin/proxies', label: 'Proxies' },
  { to: '/admin/audit', label: 'Audit trail' },
  { to: '/admin/tenants', label: 'Tenants' },
  { to: '/admin/users', label: 'Users' },
  { to: '/admin/tokens', label: 'Platform tokens' },
] as const;
