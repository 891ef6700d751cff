import { Alert, Button, Code, CopyButton, Group, Modal, Stack } from '@mantine/core';

/**
 * A secret the API returns once (a new token, a generated password): shown with a copy button
 * until the user says it is stored. Escape, a click beside the dialog and a close button would
 * each throw it away for good, so the dialog has none of them: only *I have stored it* ends it.
 * The copy happens inside the click (CopyButton), before anything is awaited.
 */
export function SecretOnce({ title, label, secret, onDone }: { title: string; label: string; secret: string | null; onDone: () => void }) {
  return (
    <Modal opened={secret !== null} onClose={onDone} title={title} closeOnClickOutside={false} closeOnEscape={false} withCloseButton={false}>
      {secret !== null && (
        <Stack>
          <Alert color="yellow">Copy it now: it is shown only once and cannot be recovered.</Alert>
          <Code block data-testid="secret-once" aria-label={label} style={{ wordBreak: 'break-all', whiteSpace: 'pre-wrap' }}>
            {secret}
          </Code>
          <Group justify="space-between">
            <CopyButton value={secret}>
              {({ copied, copy }) => (
                <Button onClick={copy} color={copied ? 'teal' : undefined} data-autofocus>
                  {copied ? 'Copied' : `Copy ${label.toLowerCase()}`}
                </Button>
              )}
            </CopyButton>
            <Button variant="default" onClick={onDone}>
              I have stored it
            </Button>
          </Group>
        </Stack>
      )}
    </Modal>
  );
}
