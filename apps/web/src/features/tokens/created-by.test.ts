import { describe, expect, it } from 'vitest';
import { createdByLabel, type CreatedBy } from './created-by';

const none = { userId: null, email: null, tokenId: null, tokenName: null };

describe('createdByLabel', () => {
  it.each<[CreatedBy, string]>([
    [{ ...none, kind: 'user', userId: '1f0c9a7e-2b3d-4c5e-8f6a-7b8c9d0e1f2a', email: 'ada@example.com' }, 'ada@example.com'],
    [{ ...none, kind: 'user', userId: '1f0c9a7e-2b3d-4c5e-8f6a-7b8c9d0e1f2a' }, 'a deleted user'],
    [{ ...none, kind: 'platform-token', tokenId: '9b2f8c1e-3d4a-4e5f-8a6b-7c8d9e0f1a2b', tokenName: 'terraform' }, 'platform token terraform'],
    [{ ...none, kind: 'api-token', tokenId: '9b2f8c1e-3d4a-4e5f-8a6b-7c8d9e0f1a2b', tokenName: 'ci-admin' }, 'API token ci-admin'],
    [{ ...none, kind: 'api-token' }, 'a deleted API token'],
    [{ ...none, kind: 'bootstrap-token' }, 'the bootstrap token (SWITCHYARD_ADMIN_TOKEN)'],
    [{ ...none, kind: 'unknown' }, 'unknown'],
  ])('%j is "%s"', (c, label) => {
    expect(createdByLabel(c)).toBe(label);
  });
});
