import { createTheme } from '@mantine/core';

export const theme = createTheme({
  primaryColor: 'indigo',
  // Visible focus for keyboard users everywhere (Mantine's default is focus-visible only).
  focusRing: 'auto',
  defaultRadius: 'sm',
});
