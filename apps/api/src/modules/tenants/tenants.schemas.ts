import { Type, type Static } from 'typebox';
import { CursorParam, LimitParam, NextCursor } from '../../lib/pagination.js';
import { DisplayName, Slug, Timestamp } from '../../lib/schemas.js';

const HostSuffix = Type.String({
  format: 'dns-suffix',
  minLength: 1,
  maxLength: 253,
  description: 'DNS suffix; upstream hosts must be strict subdomains of it. A leading "*." is accepted.',
  examples: ['acme.svc.cluster.local'],
});
const CidrText = Type.String({ format: 'cidr', minLength: 2, maxLength: 49, description: 'IPv4 or IPv6 CIDR', examples: ['10.42.0.0/16'] });

const CustomDomain = Type.String({
  format: 'dns-suffix',
  minLength: 3,
  maxLength: 253,
  description: 'A domain under which the tenant may use custom route host names',
  examples: ['db.acme.com'],
});

export const UpstreamPolicy = Type.Object(
  {
    hostSuffixes: Type.Array(HostSuffix, { maxItems: 50 }),
    cidrs: Type.Array(CidrText, { maxItems: 50 }),
  },
  { additionalProperties: false, description: 'Where this tenant’s databases may point. Anything else is refused.' },
);

/** A quota: 0 allows none, null no limit. */
const Limit = (description: string) => Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 1_000_000 }), Type.Null()], { description }));

/**
 * Quotas set by the platform admin (null: no limit, the default). Lowering one below the
 * tenant's usage takes nothing away; it only refuses growth.
 */
const Limits = {
  maxDatabases: Limit('Databases the tenant may register; null: no limit'),
  maxExternalAccess: Limit('Databases with external access enabled at once; null: no limit'),
  maxDedicatedPorts: Limit('Dedicated ports the tenant’s routes may hold; null: no limit'),
};

export const CreateTenantBody = Type.Object(
  {
    slug: Slug('Lower-case DNS label; becomes part of route hostnames'),
    name: DisplayName(200, ['Acme Corp']),
    upstreamPolicy: Type.Optional(UpstreamPolicy),
    allowedCustomDomains: Type.Optional(Type.Array(CustomDomain, { maxItems: 20 })),
    maxConnections: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()])),
    ...Limits,
  },
  { additionalProperties: false, examples: [{ slug: 'acme', name: 'Acme Corp' }, { slug: 'acme', name: 'Acme Corp', maxDatabases: 50, maxExternalAccess: 20, maxDedicatedPorts: 2 }] },
);
export type CreateTenantBody = Static<typeof CreateTenantBody>;

export const UpdateTenantBody = Type.Object(
  {
    name: Type.Optional(DisplayName(200, ['Acme Corp'])),
    upstreamPolicy: Type.Optional(UpstreamPolicy),
    allowedCustomDomains: Type.Optional(Type.Array(CustomDomain, { maxItems: 20 })),
    maxConnections: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()])),
    ...Limits,
  },
  {
    additionalProperties: false,
    minProperties: 1,
    examples: [{ name: 'Acme Corporation', upstreamPolicy: { hostSuffixes: ['acme.svc.cluster.local'], cidrs: ['10.42.0.0/16'] }, maxConnections: 500 }, { maxDedicatedPorts: 2 }],
  },
);
export type UpdateTenantBody = Static<typeof UpdateTenantBody>;

export const TENANT_EXAMPLE = {
  id: '0b8e4d1a-7a53-4a2e-9a57-2f7b0f1d9c11',
  slug: 'acme',
  name: 'Acme Corp',
  upstreamPolicy: { hostSuffixes: ['acme.svc.cluster.local'], cidrs: ['10.42.0.0/16'] },
  allowedCustomDomains: ['db.acme.com'],
  maxConnections: 500,
  maxDatabases: 50,
  maxExternalAccess: 20,
  maxDedicatedPorts: 2,
  usage: { databases: 12, externalAccess: 7, dedicatedPorts: 1 },
  createdAt: '2026-11-22T08:00:00.000Z',
  updatedAt: '2026-11-22T09:30:00.000Z',
};

export const TenantResponse = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    slug: Type.String(),
    name: Type.String(),
    // As stored (normalised); the formats of the input schema do not apply to output.
    upstreamPolicy: Type.Object({ hostSuffixes: Type.Array(Type.String()), cidrs: Type.Array(Type.String()) }),
    allowedCustomDomains: Type.Array(Type.String()),
    maxConnections: Type.Union([Type.Integer(), Type.Null()]),
    maxDatabases: Type.Union([Type.Integer(), Type.Null()]),
    maxExternalAccess: Type.Union([Type.Integer(), Type.Null()]),
    maxDedicatedPorts: Type.Union([Type.Integer(), Type.Null()]),
    usage: Type.Object(
      {
        databases: Type.Integer({ description: 'Databases registered' }),
        externalAccess: Type.Integer({ description: 'Databases with external access enabled' }),
        dedicatedPorts: Type.Integer({ description: 'Dedicated ports held by the tenant’s routes' }),
      },
      { description: 'What the limits count, now (may exceed a limit lowered below it)' },
    ),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Tenant', examples: [TENANT_EXAMPLE] },
);
export type TenantResponse = Static<typeof TenantResponse>;

/** Tenants per page of the list: without `limit`, and at most (docs/accounts.md "Listing tenants"). */
export const TENANT_PAGE = { default: 100, maximum: 1000 } as const;
/** Longest `q` of the tenant list (a slug is at most 40 characters, a name 200). */
export const MAX_TENANT_SEARCH = 200;

export const TenantsQuery = Type.Object(
  {
    q: Type.Optional(
      Type.String({
        maxLength: MAX_TENANT_SEARCH,
        description: 'Only tenants whose slug or name contains this text, ignoring case (`%` and `_` match themselves); blank: all',
        examples: ['acme'],
      }),
    ),
    limit: Type.Optional(LimitParam({ ...TENANT_PAGE, description: `Tenants per page (default ${TENANT_PAGE.default}, at most ${TENANT_PAGE.maximum})` })),
    cursor: Type.Optional(CursorParam),
  },
  { additionalProperties: false },
);
export type TenantsQuery = Static<typeof TenantsQuery>;

export const TenantsPage = Type.Object(
  { items: Type.Array(TenantResponse), nextCursor: NextCursor },
  { examples: [{ items: [TENANT_EXAMPLE], nextCursor: 'YWNtZQ' }] },
);
