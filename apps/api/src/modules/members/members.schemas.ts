import { Type, type Static } from 'typebox';
import { ListOf, Slug, Timestamp, UuidInput } from '../../lib/schemas.js';
import { Email } from '../auth/auth.schemas.js';

export const MemberRole = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')], {
  description: 'owner: everything in the tenant, including owners; admin: databases, access, tokens, members up to admin; member: read-only',
});

export const MemberParams = Type.Object(
  { tenant: Slug('Tenant slug'), userId: UuidInput('User id') },
  { additionalProperties: false },
);

export const AddMemberBody = Type.Object(
  { email: { ...Email, description: 'An existing user’s address (platform admins create users)' }, role: MemberRole },
  { additionalProperties: false, examples: [{ email: 'ada@example.com', role: 'admin' }] },
);
export type AddMemberBody = Static<typeof AddMemberBody>;

export const UpdateMemberBody = Type.Object({ role: MemberRole }, { additionalProperties: false, examples: [{ role: 'member' }] });
export type UpdateMemberBody = Static<typeof UpdateMemberBody>;

const MEMBER_EXAMPLE = {
  userId: '6f1c2d9e-4c1b-4a8e-9a57-2f7b0f1d9c11',
  email: 'ada@example.com',
  name: 'Ada',
  role: 'admin',
  disabled: false,
  createdAt: '2026-11-22T08:00:00.000Z',
};

export const MemberResponse = Type.Object(
  {
    userId: Type.String({ format: 'uuid' }),
    email: Type.String(),
    name: Type.String(),
    role: Type.String(),
    disabled: Type.Boolean(),
    createdAt: Timestamp,
  },
  { examples: [MEMBER_EXAMPLE] },
);
export type MemberResponse = Static<typeof MemberResponse>;

export const MemberList = ListOf(MemberResponse, MEMBER_EXAMPLE);
