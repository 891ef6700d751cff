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

export const TOKEN_EXAMPLE = {
  id: '9b2f8c1e-3d4a-4e5f-8a6b-7c8d9e0f1a2b',
  name: 'ci-pipeline',
  prefix: 'k3n8q2xw7p',
  role: 'admin',
  createdAt: '2026-11-22T08:00:00.000Z',
  lastUsedAt: '2026-11-23T14:12:09.000Z',
  expiresAt: '2027-06-30T00:00:00.000Z',
  revokedAt: null,
};

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
      token: 'sy_k3n8q2xw7p_' + 'A'.repeat(43),
    },
  ],
});
export type TokenResponse = Static<typeof TokenResponse>;
