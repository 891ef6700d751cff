import { Button, Paper, PasswordInput, Stack, Text, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { notifyDone, notifyError } from '../../components/notify';
import { splitApiError } from '../../lib/api/errors';
import { useChangePassword, useMe } from '../auth/session';

const MIN = 12;

export function AccountPage() {
  const me = useMe();
  const change = useChangePassword();
  const form = useForm({
    initialValues: { currentPassword: '', newPassword: '', repeat: '' },
    validate: {
      currentPassword: (v) => (v ? null : 'Enter your current password'),
      newPassword: (v) => (v.length >= MIN ? null : `At least ${MIN} characters`),
      repeat: (v, all) => (v === all.newPassword ? null : 'Does not match the new password'),
    },
  });
  const submit = form.onSubmit(({ currentPassword, newPassword }) =>
    change.mutate(
      { currentPassword, newPassword },
      {
        onSuccess: (r) => {
          form.reset();
          notifyDone(`Password changed${r.sessionsRevoked ? `; ${r.sessionsRevoked} other session(s) signed out` : ''}.`);
        },
        onError: (err) => {
          const split = splitApiError(err, (p) => p === 'currentPassword' || p === 'newPassword');
          form.setErrors(split.fields);
          if (split.rest.length) notifyError(err, 'Changing the password', split.rest);
        },
      },
    ),
  );
  return (
    <Stack maw={480}>
      <Title order={1}>Account</Title>
      <Text>
        Signed in as <strong>{me.user?.email}</strong>
        {me.isPlatformAdmin ? ' (platform admin)' : ''}.
      </Text>
      <Paper withBorder p="md">
        <form onSubmit={submit} noValidate>
          <Stack>
            <Title order={2} size="h3">
              Change password
            </Title>
            {/* Mantine marks a PasswordInput's error with data-invalid only: say it to assistive technology too. */}
            <PasswordInput label="Current password" autoComplete="current-password" required aria-invalid={form.errors.currentPassword ? true : undefined} {...form.getInputProps('currentPassword')} />
            <PasswordInput label="New password" description={`At least ${MIN} characters; passphrases welcome.`} autoComplete="new-password" required aria-invalid={form.errors.newPassword ? true : undefined} {...form.getInputProps('newPassword')} />
            <PasswordInput label="Repeat the new password" autoComplete="new-password" required aria-invalid={form.errors.repeat ? true : undefined} {...form.getInputProps('repeat')} />
            <div>
              <Button type="submit" loading={change.isPending}>
                Change password
              </Button>
            </div>
          </Stack>
        </form>
      </Paper>
    </Stack>
  );
}
