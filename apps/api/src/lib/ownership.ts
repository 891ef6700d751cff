/**
 * Who owns a database and its route. Routes declared by Kubernetes objects (ExternalAccess,
 * TLSRoute) belong to the controller acting for that object: the API refuses every other
 * change with 409 SY_KUBERNETES_OWNED naming the object, so a change is never silently
 * reverted by the next reconcile. See docs/kubernetes.md.
 */
import { Type, type Static } from 'typebox';
import type { Actor } from './access.js';
import { AppError } from './errors.js';

export const KUBERNETES_KINDS = ['ExternalAccess', 'TLSRoute'] as const;
export type KubernetesKind = (typeof KUBERNETES_KINDS)[number];

/** The Kubernetes object a route belongs to. */
export interface KubernetesOwner {
  kind: KubernetesKind;
  namespace: string;
  name: string;
  uid: string;
}

export type Owner = { type: 'api' } | ({ type: 'kubernetes' } & KubernetesOwner);

export const OwnerSchema = Type.Union(
  [
    Type.Object({ type: Type.Literal('api') }, { description: 'Created through the API or the dashboard' }),
    Type.Object(
      {
        type: Type.Literal('kubernetes'),
        kind: Type.Enum(KUBERNETES_KINDS),
        namespace: Type.String(),
        name: Type.String(),
        uid: Type.String(),
      },
      { description: 'Declared by a Kubernetes object; read-only here: change the object instead' },
    ),
  ],
  { description: 'Who owns the database and its route', examples: [{ type: 'kubernetes', kind: 'ExternalAccess', namespace: 'acme-prod', name: 'orders', uid: '6f1c2d9e-4a7b-4c1e-9d2a-0b3c4d5e6f70' }] },
);
export type OwnerSchema = Static<typeof OwnerSchema>;

/** The owner columns of `databases` and `routes`. */
export interface OwnerColumns {
  owner: string;
  ownerKind: string | null;
  ownerNamespace: string | null;
  ownerName: string | null;
  ownerUid: string | null;
}

export function ownerOf(row: OwnerColumns): Owner {
  if (row.owner !== 'kubernetes') return { type: 'api' };
  return { type: 'kubernetes', kind: row.ownerKind as KubernetesKind, namespace: row.ownerNamespace!, name: row.ownerName!, uid: row.ownerUid! };
}

export function ownerColumns(owner: KubernetesOwner | undefined): OwnerColumns {
  return owner
    ? { owner: 'kubernetes', ownerKind: owner.kind, ownerNamespace: owner.namespace, ownerName: owner.name, ownerUid: owner.uid }
    : { owner: 'api', ownerKind: null, ownerNamespace: null, ownerName: null, ownerUid: null };
}

/**
 * A Kubernetes-owned database or route may only be changed by the controller acting for the
 * same object (same uid); everyone else gets 409 naming the object.
 */
export function assertMayChange(actor: Actor, row: OwnerColumns, what: string): void {
  if (row.owner !== 'kubernetes') return;
  if (actor.owner && actor.owner.uid === row.ownerUid) return;
  const o = ownerOf(row) as { type: 'kubernetes' } & KubernetesOwner;
  throw new AppError(
    'SY_KUBERNETES_OWNED',
    `${what} is owned by Kubernetes ${o.kind} ${o.namespace}/${o.name}; change that object (kubectl edit ${o.kind.toLowerCase()} -n ${o.namespace} ${o.name}) instead`,
    [{ field: 'owner', message: `owned by ${o.kind} ${o.namespace}/${o.name}`, kind: o.kind, namespace: o.namespace, name: o.name, uid: o.uid }],
  );
}
