import { Title } from '@mantine/core';

export function DatabasePage() {
  return <Title order={1}>DatabasePage</Title>;
}
