import { Type, type Static } from 'typebox';
import { Timestamp } from '../../lib/schemas.js';

export const TokenRole = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')]);

export const CreateTokenBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, examples: ['ci-pipeline'] }),
    role: TokenRole,
    expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'Omit for a token that does not expire' })),
  },
  { additionalProperties: false },
);
export type CreateTokenBody = Static<typeof CreateTokenBody>;

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
  { $id: 'ApiToken' },
);

export const CreatedTokenResponse = Type.Object({
  ...TokenResponse.properties,
  token: Type.String({ description: 'The secret token. Shown once; store it now.' }),
});
export type TokenResponse = Static<typeof TokenResponse>;
