import { Title } from '@mantine/core';

export function DatabasesPage() {
  return <Title order={1}>DatabasesPage</Title>;
}
