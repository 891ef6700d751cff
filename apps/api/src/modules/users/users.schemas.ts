import { Type, type Static } from 'typebox';
import { DisplayName, ListOf, Timestamp, UuidInput } from '../../lib/schemas.js';
import { Email, NewPassword } from '../auth/auth.schemas.js';

const Name = DisplayName(200, ['Ada Lovelace']);

export const UserParams = Type.Object({ userId: UuidInput('User id') }, { additionalProperties: false });

export const CreateUserBody = Type.Object(
  {
    email: Email,
    name: Name,
    password: Type.Optional({ ...NewPassword, description: 'Omit to have one generated and returned once as `initialPassword`.' }),
    isPlatformAdmin: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false, examples: [{ email: 'ada@example.com', name: 'Ada Lovelace' }] },
);
export type CreateUserBody = Static<typeof CreateUserBody>;

export const UpdateUserBody = Type.Object(
  {
    email: Type.Optional(Email),
    name: Type.Optional(Name),
    isPlatformAdmin: Type.Optional(Type.Boolean()),
    disabled: Type.Optional(Type.Boolean({ description: 'A disabled user cannot sign in; their sessions end at once.' })),
    password: Type.Optional({ ...NewPassword, description: 'Reset the password; every session of the user ends.' }),
  },
  { additionalProperties: false, minProperties: 1, examples: [{ disabled: true }, { name: 'Ada King' }] },
);
export type UpdateUserBody = Static<typeof UpdateUserBody>;

export const USER_EXAMPLE = {
  id: '6f1c2d9e-4c1b-4a8e-9a57-2f7b0f1d9c11',
  email: 'ada@example.com',
  name: 'Ada Lovelace',
  isPlatformAdmin: false,
  disabled: false,
  hasPassword: true,
  lastLoginAt: null,
  createdAt: '2026-11-22T08:00:00.000Z',
  updatedAt: '2026-11-22T08:00:00.000Z',
  memberships: [{ tenant: 'acme', role: 'owner' }],
};

export const UserResponse = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    email: Type.String(),
    name: Type.String(),
    isPlatformAdmin: Type.Boolean(),
    disabled: Type.Boolean(),
    hasPassword: Type.Boolean(),
    lastLoginAt: Type.Union([Timestamp, Type.Null()]),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    memberships: Type.Array(Type.Object({ tenant: Type.String(), role: Type.String() })),
  },
  {
    examples: [USER_EXAMPLE],
  },
);
export type UserResponse = Static<typeof UserResponse>;

export const UserList = ListOf(UserResponse, USER_EXAMPLE);

export const CreatedUserResponse = Type.Object(
  {
    ...UserResponse.properties,
    initialPassword: Type.Optional(Type.String({ description: 'Only when no password was given: shown once, hand it over securely.' })),
  },
  { examples: [{ ...USER_EXAMPLE, memberships: [], initialPassword: 'diov7t_X4mWZ3ayau2OyXKZC' }] },
);
