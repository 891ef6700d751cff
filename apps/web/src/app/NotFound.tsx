import { Anchor, Stack, Text, Title } from '@mantine/core';
import { Link } from '@tanstack/react-router';

export function NotFoundPage() {
  return (
    <Stack p="xl">
      <Title order={1}>Page not found</Title>
      <Text>There is nothing at this address.</Text>
      <Anchor component={Link} to="/">
        Go to the dashboard
      </Anchor>
    </Stack>
  );
}

/** Shown for a tenant the caller has no role in: nothing of it is loaded or revealed. */
export function NoAccessPage() {
  return (
    <Stack>
      <Title order={1}>Not found</Title>
      <Text role="alert">This tenant does not exist or you are not a member of it.</Text>
      <Anchor component={Link} to="/">
        Go to your tenants
      </Anchor>
    </Stack>
  );
}
