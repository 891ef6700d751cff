import { Alert, Button, Center, Paper, PasswordInput, Stack, Text, TextInput, Title } from '@mantine/core';
import { useForm } from '@mantine/form';
import { useNavigate, useSearch } from '@tanstack/react-router';
import { useState } from 'react';
import { describeError, splitApiError } from '../../lib/api/errors';
import { useLogin } from './session';

export function LoginPage() {
  const login = useLogin();
  const navigate = useNavigate();
  const search = useSearch({ from: '/login' });
  const [failure, setFailure] = useState<{ message: string; requestId: string | null } | null>(null);
  const form = useForm({
    initialValues: { email: '', password: '' },
    validate: {
      email: (v) => (/^\S+@\S+$/.test(v) ? null : 'Enter your email address'),
      password: (v) => (v ? null : 'Enter your password'),
    },
  });

  const submit = form.onSubmit((values) => {
    setFailure(null);
    login.mutate(values, {
      onSuccess: () => {
        // Only same-origin paths: never a redirect to another site.
        const to = search.redirect && search.redirect.startsWith('/') && !search.redirect.startsWith('//') ? search.redirect : '/';
        void navigate({ to });
      },
      onError: (err) => {
        const split = splitApiError(err, (p) => p === 'email' || p === 'password');
        form.setErrors(split.fields);
        if (split.rest.length) setFailure({ message: split.rest.join(' '), requestId: describeError(err).requestId });
      },
    });
  });

  return (
    <Center mih="100vh" p="md" component="main">
      <Paper withBorder p="xl" w={380} radius="md">
        <form onSubmit={submit} noValidate>
          <Stack>
            <Title order={1} size="h2">
              Sign in to Switchyard
            </Title>
            {search.ended && !failure && (
              <Alert color="yellow" title="Your session has ended">
                Sign in again to go back to the page you were on.
              </Alert>
            )}
            {failure && (
              <Alert color="red" role="alert" title="Sign-in failed">
                {failure.message}
                {failure.requestId && (
                  <Text size="xs" c="dimmed">
                    request {failure.requestId}
                  </Text>
                )}
              </Alert>
            )}
            <TextInput label="Email" type="email" autoComplete="username" required data-autofocus {...form.getInputProps('email')} />
            <PasswordInput label="Password" autoComplete="current-password" required {...form.getInputProps('password')} />
            <Button type="submit" loading={login.isPending}>
              Sign in
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
