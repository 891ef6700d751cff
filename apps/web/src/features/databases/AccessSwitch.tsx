/**
 * The one switch. It shows what the API stores; the indicator beside it shows whether the
 * proxies serve it yet. Turning it off asks what happens to open connections.
 */
import { Button, Group, Modal, Radio, Stack, Switch, Text } from '@mantine/core';
import { Fragment, useState, type ReactNode } from 'react';
import { Guarded } from '../../components/Guarded';
import { notifyError } from '../../components/notify';
import { splitApiError } from '../../lib/api/errors';
import { READ_ONLY_REASON } from '../auth/session';
import { useChangeAccess, type ExternalAccess } from './api';

export interface AccessSwitchProps {
  tenant: string;
  database: string;
  access: ExternalAccess;
  canManage: boolean;
  /** Why the switch is disabled when `canManage` is false (the role, or a Kubernetes owner). */
  readOnlyReason?: string;
  /** Called when a change is sent (the propagation clock starts). */
  onChange?: () => void;
}

export function AccessSwitch({ tenant, database, access, canManage, readOnlyReason = READ_ONLY_REASON, onChange }: AccessSwitchProps) {
  const change = useChangeAccess(tenant, database);
  const [asking, setAsking] = useState(false);
  const [behavior, setBehavior] = useState<'drain' | 'close'>(access.disableBehavior);
  // A refusal that names `enabled` (the tenant's limit, SY_TENANT_LIMIT) stays beside the
  // switch until the next change; anything else is a notification.
  const [error, setError] = useState<string | null>(null);

  const send = (enabled: boolean, disableBehavior?: 'drain' | 'close') => {
    onChange?.();
    setError(null);
    change.mutate(
      { enabled, ...(disableBehavior ? { disableBehavior } : {}) },
      {
        onError: (err) => {
          const split = splitApiError(err, (p) => p === 'enabled');
          if (split.fields.enabled) setError(split.fields.enabled);
          if (split.rest.length) notifyError(err, enabled ? 'Enabling external access' : 'Disabling external access', split.rest);
        },
      },
    );
  };

  return (
    <>
      <Guarded allowed={canManage} reason={readOnlyReason}>
        <Switch
          size="lg"
          label="External access"
          description={
            access.enabled ? (
              <>
                Clients reach {breakable(`${access.hostname}:${access.port}`)}
                {access.dedicatedPort !== null && <>; clients without SNI, port {access.dedicatedPort}</>}
              </>
            ) : (
              'No client outside the cluster can connect'
            )
          }
          // A long host name wraps on a narrow window instead of widening the page: at its dots
          // and before the port (breakable), anywhere only if one label is wider than the window.
          styles={{ labelWrapper: { minWidth: 0 }, description: { overflowWrap: 'anywhere' } }}
          error={error ?? undefined}
          checked={access.enabled}
          // Not disabled while a change is on its way: disabling the focused switch dropped
          // keyboard focus to the page. It ignores presses meanwhile instead (aria-busy says so).
          disabled={!canManage}
          aria-busy={change.isPending || undefined}
          onChange={(e) => {
            if (change.isPending) return;
            if (e.currentTarget.checked) send(true);
            else {
              setBehavior(access.disableBehavior);
              setAsking(true);
            }
          }}
        />
      </Guarded>
      <Modal opened={asking} onClose={() => setAsking(false)} title="Disable external access?">
        <Stack>
          <Text size="sm">New connections to {access.hostname} will be refused. What should happen to connections that are open now?</Text>
          {access.acme && (
            // The API ends the route's ACME request with it (docs/certificates.md, `route-disabled`).
            <Text size="sm" data-testid="disable-ends-acme">
              This also ends the ACME certificate request for {access.hostname} ({access.acme.state}): it is no longer ordered or renewed. Request it again after enabling.
            </Text>
          )}
          <Radio.Group value={behavior} onChange={(v) => setBehavior(v)} label="Open connections" name="disable-behavior">
            <Stack gap="xs" mt="xs">
              <Radio value="drain" label="Drain: let them finish on their own" />
              <Radio value="close" label="Close them now" />
            </Stack>
          </Radio.Group>
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setAsking(false)}>
              Keep enabled
            </Button>
            <Button
              color="red"
              onClick={() => {
                setAsking(false);
                send(false, behavior);
              }}
            >
              Disable access
            </Button>
          </Group>
        </Stack>
      </Modal>
    </>
  );
}

/**
 * `host:port` with line-break opportunities after each dot and before the colon (<wbr>: no
 * character, so a copied name stays exact), instead of a break in the middle of a label
 * ("switchyard.loc / alhost:15432" at 390 px).
 */
export function breakable(address: string): ReactNode {
  const parts = address.split(/(?<=\.)|(?=:)/);
  return parts.map((p, i) => (
    <Fragment key={i}>
      {i > 0 && <wbr />}
      {p}
    </Fragment>
  ));
}
