/**
 * What a kept route's status says: which generation serves (read from the object itself, so a
 * restarted controller says the same) and the refusal with what keeps serving.
 */
import { describe, expect, it } from 'vitest';
import { keptMessage, lastAcceptedGeneration } from './conditions.js';

describe('lastAcceptedGeneration', () => {
  it('is status.lastAcceptedGeneration, else the generation of an Accepted=True status written before that field, else unknown', () => {
    expect(lastAcceptedGeneration({ status: { lastAcceptedGeneration: 3, observedGeneration: 5 } })).toBe(3);
    const accepted = { type: 'Accepted', status: 'True' as const, reason: 'Accepted', message: '' };
    expect(lastAcceptedGeneration({ status: { observedGeneration: 4, conditions: [{ ...accepted, observedGeneration: 4 }] } })).toBe(4);
    expect(lastAcceptedGeneration({ status: { observedGeneration: 4, conditions: [accepted] } })).toBe(4);
    // A refusal written without the field (a kept route whose generation was never known): still unknown.
    expect(lastAcceptedGeneration({ status: { observedGeneration: 6, conditions: [{ ...accepted, status: 'False', reason: 'Invalid' }] } })).toBeNull();
    expect(lastAcceptedGeneration({})).toBeNull();
  });
});

describe('keptMessage', () => {
  it('says what is refused, then what keeps serving and from which generation', () => {
    expect(keptMessage('spec.hostname: x.evil.test is not under the tenant’s allowed domains (acme.example.test)', 3, { hostname: 'orders.acme.example.test', port: 5432, enabled: true })).toBe(
      'spec.hostname: x.evil.test is not under the tenant’s allowed domains (acme.example.test); the route of generation 3 (the last accepted) keeps serving orders.acme.example.test:5432 unchanged',
    );
    expect(keptMessage('Unknown engine postgress', null, { hostname: 'o.acme.example.test', port: 5432, enabled: false })).toBe(
      'Unknown engine postgress; the route of the last accepted generation is kept unchanged but disabled (spec.enabled is false): o.acme.example.test:5432 refuses new connections',
    );
  });

  it('says that the kept route’s endpoints follow its last accepted Service, enabled or not', () => {
    expect(keptMessage('Unknown engine postgress', 3, { hostname: 'o.acme.example.test', port: 5432, enabled: true }, 'acme-prod/orders-rw')).toBe(
      'Unknown engine postgress; the route of generation 3 (the last accepted) keeps serving o.acme.example.test:5432 unchanged but for its endpoints, which follow Service acme-prod/orders-rw',
    );
    expect(keptMessage('Unknown engine postgress', 3, { hostname: 'o.acme.example.test', port: 5432, enabled: false }, 'acme-prod/orders-rw')).toBe(
      'Unknown engine postgress; the route of generation 3 (the last accepted) is kept unchanged but disabled (spec.enabled is false): o.acme.example.test:5432 refuses new connections; its endpoints follow Service acme-prod/orders-rw',
    );
  });
});
