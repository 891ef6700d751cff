import { Type, type Static } from 'typebox';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../../lib/passwords.js';
import { Timestamp } from '../../lib/schemas.js';

export const Email = Type.String({ format: 'email', minLength: 3, maxLength: 254, examples: ['ada@example.com'] });
/** Login accepts any non-empty password (old policies may have allowed shorter ones). */
const AnyPassword = Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH, examples: ['correct horse battery staple'] });
export const NewPassword = Type.String({
  minLength: MIN_PASSWORD_LENGTH,
  maxLength: MAX_PASSWORD_LENGTH,
  description: `At least ${MIN_PASSWORD_LENGTH} characters; passphrases welcome.`,
  examples: ['tr0ub4dor and 3 more words'],
});

export const LoginBody = Type.Object(
  { email: Email, password: AnyPassword },
  { additionalProperties: false, examples: [{ email: 'ada@example.com', password: 'correct horse battery staple' }] },
);
export type LoginBody = Static<typeof LoginBody>;

export const ChangePasswordBody = Type.Object(
  { currentPassword: AnyPassword, newPassword: NewPassword },
  { additionalProperties: false, examples: [{ currentPassword: 'correct horse battery staple', newPassword: 'tr0ub4dor and 3 more words' }] },
);
export type ChangePasswordBody = Static<typeof ChangePasswordBody>;

export const UserSummary = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    email: Type.String(),
    name: Type.String(),
    isPlatformAdmin: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const MeResponse = Type.Object(
  {
    actorType: Type.Union([Type.Literal('user'), Type.Literal('token'), Type.Literal('admin-token')]),
    user: Type.Union([UserSummary, Type.Null()], { description: 'The signed-in user; null for API tokens' }),
    isPlatformAdmin: Type.Boolean(),
    tenants: Type.Array(
      Type.Object({ id: Type.String({ format: 'uuid' }), slug: Type.String(), name: Type.String(), role: Type.String() }),
      { description: 'Tenants the caller has a role in (platform admins may act on every tenant)' },
    ),
    csrfToken: Type.Union([Type.String(), Type.Null()], {
      description: 'Send as X-CSRF-Token on every change made with the session cookie; null for bearer tokens',
    }),
    sessionExpiresAt: Type.Union([Timestamp, Type.Null()]),
    clientAddress: Type.String({
      description: 'The address this request came from as the API sees it (for "add my current address" to an allowlist); behind a load balancer, the balancer’s',
    }),
  },
  {
    $id: 'Me',
    examples: [
      {
        actorType: 'user',
        user: { id: '6f1c2d9e-4c1b-4a8e-9a57-2f7b0f1d9c11', email: 'ada@example.com', name: 'Ada', isPlatformAdmin: false },
        isPlatformAdmin: false,
        tenants: [{ id: '0b8e4d1a-7a53-4a2e-9a57-2f7b0f1d9c11', slug: 'acme', name: 'Acme Corp', role: 'owner' }],
        csrfToken: 'pQ1kq0mJ3u0m3Rk8cS3b1pWlq9r3Jf6tY2tE1wZ0aXk',
        sessionExpiresAt: '2026-11-22T20:00:00.000Z',
        clientAddress: '203.0.113.7',
      },
    ],
  },
);
export type MeResponse = Static<typeof MeResponse>;
