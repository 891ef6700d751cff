/**
 * "Register from a discovered service": the Services the Kubernetes controller found in the
 * tenant's namespaces (namespace/name, engine, host:port); picking one fills the form.
 */
import { Select, Text } from '@mantine/core';
import type { DiscoveredService } from './api';

export function discoveredLabel(s: DiscoveredService): string {
  return `${s.namespace}/${s.name} · ${s.engine}${s.role ? ` (${s.role})` : ''} · ${s.upstream.host}:${s.upstream.port}`;
}

export interface DiscoveredPickerProps {
  services: DiscoveredService[];
  /** `namespace/name` of the picked service, '' for none. */
  value: string;
  error?: string | undefined;
  onPick: (s: DiscoveredService | null) => void;
}

export function DiscoveredPicker({ services, value, error, onPick }: DiscoveredPickerProps) {
  if (services.length === 0) {
    return (
      <Text size="xs" c="dimmed">
        No discovered services: the Kubernetes controller lists Services of namespaces labelled <code>switchyard.io/tenant</code> with this tenant.
      </Text>
    );
  }
  return (
    <Select
      label="Register from a discovered service"
      description="Services the Kubernetes controller found in this tenant’s namespaces; picking one fills the name, engine and upstream"
      placeholder="Choose a service, or fill the form by hand"
      searchable
      clearable
      data={services.map((s) => ({ value: `${s.namespace}/${s.name}`, label: discoveredLabel(s) }))}
      value={value || null}
      error={error}
      onChange={(v) => onPick(services.find((s) => `${s.namespace}/${s.name}` === v) ?? null)}
    />
  );
}
