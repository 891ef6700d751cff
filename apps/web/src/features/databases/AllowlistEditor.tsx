/**
 * Source allowlist: "any address" or "only these", each entry validated as typed (IPv4/IPv6,
 * zero host bits, with the network it probably meant), its address count shown, and the
 * caller's own address one click away. Errors from the API (by entry index) show on the entry.
 */
import { ActionIcon, Button, Group, Radio, Stack, Text, TextInput } from '@mantine/core';
import { useState } from 'react';
import { checkAllowlist, checkCidr, formatAddressCount, hostEntry } from '../../lib/cidr';

export type AllowMode = 'any' | 'only';

export interface AllowlistEditorProps {
  mode: AllowMode;
  entries: string[];
  onChange: (mode: AllowMode, entries: string[]) => void;
  /** The caller's address as the API sees it, for "add my current address". */
  clientAddress?: string | null;
  /** Errors by entry index (from the API: body.sourceCidrs.N). */
  errors?: Record<number, string>;
  /** A message about the list as a whole. */
  error?: string | null;
  disabled?: boolean;
  /** Told what is typed in the "add" field, so a save can refuse to drop it. */
  onDraftChange?: (draft: string) => void;
  /** A message for the "add" field from outside (typed but not added when saving). */
  draftProblem?: string | null;
}

/** Whether the editor's value can be saved, and why not. */
export function allowlistProblem(mode: AllowMode, entries: string[]): string | null {
  if (mode === 'any') return null;
  if (entries.length === 0) return 'Add at least one address or network, or choose “Any address”';
  const checks = checkAllowlist(entries);
  if (checks.some((c) => !c.ok)) return 'Fix the entries marked below';
  if (checks.some((c) => c.duplicate)) return 'An entry is listed twice';
  return null;
}

export function AllowlistEditor({ mode, entries, onChange, clientAddress, errors = {}, error, disabled, onDraftChange, draftProblem }: AllowlistEditorProps) {
  const [draft, setDraftState] = useState('');
  const setDraft = (d: string) => {
    setDraftState(d);
    onDraftChange?.(d);
  };
  const [draftError, setDraftError] = useState<{ message: string; suggestion?: string } | null>(null);
  const checks = checkAllowlist(entries);
  const total = checks.reduce((n, c) => (c.ok && !c.duplicate ? n + c.count : n), 0n);
  const mine = clientAddress ? hostEntry(clientAddress) : null;

  const add = (text: string) => {
    const c = checkCidr(text);
    if (!c.ok) {
      setDraftError({ message: c.message, ...(c.suggestion ? { suggestion: c.suggestion } : {}) });
      return;
    }
    if (checks.some((x) => x.ok && x.text === c.text)) {
      setDraftError({ message: `${c.text} is already in the list` });
      return;
    }
    setDraft('');
    setDraftError(null);
    onChange('only', [...entries, c.text]);
  };

  return (
    <Stack gap="xs">
      <Radio.Group
        label="Who may connect"
        value={mode}
        onChange={(v) => onChange(v, entries)}
        name="allow-mode"
        error={mode === 'only' ? error : undefined}
      >
        <Group mt={4}>
          <Radio value="any" label="Any address" disabled={disabled} />
          <Radio value="only" label="Only these addresses" disabled={disabled} />
        </Group>
      </Radio.Group>
      {mode === 'any' && (
        <Text size="sm" c="dimmed">
          Every address on the internet can try to connect (the database still asks for its password).
        </Text>
      )}
      {mode === 'only' && (
        <>
          {entries.length === 0 && (
            <Text size="sm" c="dimmed">
              No entries yet: add an address or a network.
            </Text>
          )}
          {entries.map((entry, i) => {
            const c = checks[i]!;
            const message = errors[i] ?? (c.ok ? (c.duplicate ? 'Listed twice' : null) : c.message);
            return (
              <Group key={i} align="flex-start" wrap="nowrap" gap="xs">
                <TextInput
                  style={{ flex: 1 }}
                  aria-label={`Allowed network ${i + 1}`}
                  value={entry}
                  disabled={disabled}
                  error={message}
                  description={c.ok && !message ? formatAddressCount(c.count) : undefined}
                  onChange={(e) => onChange('only', entries.map((x, j) => (j === i ? e.currentTarget.value : x)))}
                />
                <ActionIcon
                  variant="subtle"
                  color="red"
                  size="lg"
                  mt={2}
                  disabled={disabled}
                  aria-label={`Remove ${entry || `entry ${i + 1}`}`}
                  onClick={() => onChange('only', entries.filter((_, j) => j !== i))}
                >
                  ✕
                </ActionIcon>
              </Group>
            );
          })}
          <Group align="flex-start" wrap="nowrap" gap="xs">
            <TextInput
              style={{ flex: 1 }}
              label="Add an address or network"
              placeholder="203.0.113.0/24 or 2001:db8::/48"
              value={draft}
              disabled={disabled}
              error={draftError?.message ?? draftProblem}
              onChange={(e) => {
                setDraft(e.currentTarget.value);
                setDraftError(null);
              }}
              onKeyDown={(e) => {
                if (e.key === 'Enter') {
                  e.preventDefault();
                  add(draft);
                }
              }}
            />
            <Button mt={25} variant="light" disabled={disabled || !draft.trim()} onClick={() => add(draft)}>
              Add
            </Button>
          </Group>
          {draftError?.suggestion && (
            <div>
              <Button size="xs" variant="subtle" onClick={() => add(draftError.suggestion!)}>
                Add {draftError.suggestion} instead
              </Button>
            </div>
          )}
          <Group justify="space-between">
            {mine ? (
              <Button
                size="xs"
                variant="default"
                disabled={disabled || checks.some((c) => c.ok && c.text === mine)}
                onClick={() => add(mine)}
              >
                Add my current address ({clientAddress})
              </Button>
            ) : (
              <span />
            )}
            <Text size="sm" c="dimmed" aria-live="polite">
              {entries.length} {entries.length === 1 ? 'entry' : 'entries'}, {formatAddressCount(total)} in all
            </Text>
          </Group>
        </>
      )}
    </Stack>
  );
}
