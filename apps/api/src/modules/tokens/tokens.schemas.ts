import { Type, type Static } from 'typebox';
import { DisplayName, ListOf, Timestamp, TimestampInput } from '../../lib/schemas.js';

export const TokenRole = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')]);

export const CreateTokenBody = Type.Object(
  {
    name: DisplayName(100, ['ci-pipeline']),
    role: TokenRole,
    expiresAt: Type.Optional(TimestampInput('Omit for a token that does not expire')),
  },
  { additionalProperties: false, examples: [{ name: 'ci-pipeline', role: 'admin', expiresAt: '2027-06-30T00:00:00Z' }] },
);
export type CreateTokenBody = Static<typeof CreateTokenBody>;

export const CreatePlatformTokenBody = Type.Object(
  {
    name: DisplayName(100, ['terraform']),
    expiresAt: Type.Optional(TimestampInput('Omit for a token that does not expire')),
  },
  { additionalProperties: false, examples: [{ name: 'terraform', expiresAt: '2027-06-30T00:00:00Z' }] },
);
export type CreatePlatformTokenBody = Static<typeof CreatePlatformTokenBody>;

const CREATED_BY_EXAMPLE = { kind: 'user', userId: '1f0c9a7e-2b3d-4c5e-8f6a-7b8c9d0e1f2a', email: 'ada@example.com', tokenId: null, tokenName: null };

export const TOKEN_EXAMPLE = {
  id: '9b2f8c1e-3d4a-4e5f-8a6b-7c8d9e0f1a2b',
  name: 'ci-pipeline',
  prefix: 'k3n8q2xw7p',
  role: 'admin',
  createdAt: '2026-11-22T08:00:00.000Z',
  lastUsedAt: '2026-11-23T14:12:09.000Z',
  expiresAt: '2027-06-30T00:00:00.000Z',
  revokedAt: null,
  createdBy: CREATED_BY_EXAMPLE,
};

export const TokenCreatedBy = Type.Object(
  {
    kind: Type.Union([Type.Literal('user'), Type.Literal('platform-token'), Type.Literal('api-token'), Type.Literal('bootstrap-token'), Type.Literal('unknown')], {
      description:
        '`user`: a signed-in user (`userId`, `email`; `email` is null once the user is deleted). `platform-token` / `api-token`: another token (`tokenId`, `tokenName`). ' +
        '`bootstrap-token`: SWITCHYARD_ADMIN_TOKEN. `unknown`: no record of the creator.',
    }),
    userId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    email: Type.Union([Type.String(), Type.Null()]),
    tokenId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    tokenName: Type.Union([Type.String(), Type.Null()]),
  },
  { description: 'Who created the token. Tokens a user created are revoked when that user’s access ends or shrinks below them (docs/accounts.md).' },
);
export type TokenCreatedBy = Static<typeof TokenCreatedBy>;

export const TokenResponse = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    prefix: Type.String({ description: 'Public part of the token, for recognising it' }),
    role: Type.String(),
    createdAt: Timestamp,
    lastUsedAt: Type.Union([Timestamp, Type.Null()]),
    expiresAt: Type.Union([Timestamp, Type.Null()]),
    revokedAt: Type.Union([Timestamp, Type.Null()]),
    createdBy: TokenCreatedBy,
  },
  { $id: 'ApiToken', examples: [TOKEN_EXAMPLE] },
);

export const TokenList = ListOf(TokenResponse, TOKEN_EXAMPLE);

export const CreatedTokenResponse = Type.Object({
  ...TokenResponse.properties,
  token: Type.String({ description: 'The secret token. Shown once; store it now.' }),
}, {
  examples: [
    {
      id: '9b2f8c1e-3d4a-4e5f-8a6b-7c8d9e0f1a2b',
      name: 'ci-pipeline',
      prefix: 'k3n8q2xw7p',
      role: 'admin',
      createdAt: '2026-11-22T08:00:00.000Z',
      lastUsedAt: null,
      expiresAt: '2027-06-30T00:00:00.000Z',
      revokedAt: null,
      createdBy: CREATED_BY_EXAMPLE,
      token: 'sy_k3n8q2xw7p_' + 'A'.repeat(43),
    },
  ],
});
export type TokenResponse = Static<typeof TokenResponse>;
