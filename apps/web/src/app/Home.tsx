import { Stack, Text, Title } from '@mantine/core';

/** Signed in without any tenant: say so instead of showing an empty frame. */
export function Home() {
  return (
    <Stack>
      <Title order={1}>No tenants yet</Title>
      <Text>You are not a member of any tenant. Ask a tenant owner to add you, or a platform admin to create a tenant.</Text>
    </Stack>
  );
}
