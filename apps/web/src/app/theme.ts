import { createTheme, type CSSVariablesResolver } from '@mantine/core';

export const theme = createTheme({
  primaryColor: 'indigo',
  // Visible focus for keyboard users everywhere (Mantine's default is focus-visible only).
  focusRing: 'auto',
  defaultRadius: 'sm',
  // WCAG AA contrast (4.5:1) for links and primary text on white: Mantine's default shade 6 is ~4:1.
  primaryShade: { light: 8, dark: 8 },
});

/** Dimmed text in a shade that keeps 4.5:1 on white (Mantine's gray.6 is ~3.3:1). */
export const cssVariablesResolver: CSSVariablesResolver = () => ({
  variables: {},
  light: { '--mantine-color-dimmed': 'var(--mantine-color-gray-7)' },
  dark: {},
});
