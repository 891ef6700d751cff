/**
 * Databases and routes declared by a Kubernetes object (`owner.type: kubernetes`) are changed
 * with kubectl, never here: the API refuses with SY_KUBERNETES_OWNED. The dashboard names the
 * object on a badge and says so on every disabled control.
 */
import { Badge, Tooltip } from '@mantine/core';
import type { Database } from './api';

export type Owner = Database['owner'];
type KubernetesOwner = Extract<Owner, { type: 'kubernetes' }>;

export function kubernetesOwner(owner: Owner | undefined): KubernetesOwner | null {
  return owner?.type === 'kubernetes' ? owner : null;
}

/** "ExternalAccess acme-prod/orders" */
export function ownerName(owner: KubernetesOwner): string {
  return `${owner.kind} ${owner.namespace}/${owner.name}`;
}

/** The tooltip of every control a Kubernetes-owned database disables. */
export function kubernetesReason(owner: KubernetesOwner): string {
  return `Managed by Kubernetes object ${ownerName(owner)}; change it with kubectl (kubectl edit ${owner.kind.toLowerCase()} ${owner.name} -n ${owner.namespace})`;
}

/**
 * Whether the caller may change this database, and why not: the role comes first (a member
 * can change nothing anyway), then the Kubernetes owner.
 */
export function changeLock(canManage: boolean, readOnlyReason: string, owner: Owner | undefined): { allowed: boolean; reason: string } {
  if (!canManage) return { allowed: false, reason: readOnlyReason };
  const k = kubernetesOwner(owner);
  if (k) return { allowed: false, reason: kubernetesReason(k) };
  return { allowed: true, reason: '' };
}

export function KubernetesBadge({ owner }: { owner: Owner | undefined }) {
  const k = kubernetesOwner(owner);
  if (!k) return null;
  return (
    <Tooltip label={kubernetesReason(k)} withArrow multiline maw={360}>
      <Badge color="indigo" variant="light" tabIndex={0} aria-label={`Kubernetes: ${ownerName(k)} (read-only here)`} data-testid="kubernetes-owner" style={{ textTransform: 'none' }}>
        Kubernetes: {ownerName(k)}
      </Badge>
    </Tooltip>
  );
}
