/**
 * Who created a token, in words (tenant and platform tokens alike): the API's `createdBy`.
 * Tokens a user created are revoked when that user's access ends or shrinks below them
 * (docs/accounts.md), so the list says whose they are. Pure.
 */
import type { components } from '../../lib/api/schema';

export type CreatedBy = components['schemas']['ApiToken']['createdBy'];

export function createdByLabel(c: CreatedBy): string {
  switch (c.kind) {
    case 'user':
      return c.email ?? 'a deleted user';
    case 'platform-token':
      return c.tokenName ? `platform token ${c.tokenName}` : 'a deleted platform token';
    case 'api-token':
      return c.tokenName ? `API token ${c.tokenName}` : 'a deleted API token';
    case 'bootstrap-token':
      return 'the bootstrap token (SWITCHYARD_ADMIN_TOKEN)';
    default:
      return 'unknown';
  }
}
