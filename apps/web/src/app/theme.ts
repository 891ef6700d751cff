import { Alert, Anchor, Badge, createTheme, darken, Drawer, Modal, type CSSVariablesResolver } from '@mantine/core';

/**
 * Mantine's defaults, adjusted where axe measured contrast below WCAG AA (4.5:1): primary
 * shade 8, darker dimmed text, black text on tinted badges and alert titles, and links
 * underlined inside text. Badges are never cut to an ellipsis.
 */
export const theme = createTheme({
  primaryColor: 'indigo',
  primaryShade: { light: 8, dark: 5 },
  // Visible focus for keyboard users everywhere (Mantine's default is focus-visible only).
  focusRing: 'auto',
  defaultRadius: 'sm',
  components: {
    // A badge is a state ("active", "up to date"): never cut to "a…" when a table is tight on a
    // phone — its label keeps its width (overflow visible: the column cannot shrink below it).
    Badge: Badge.extend({ defaultProps: { variant: 'light' }, styles: { label: { color: 'var(--mantine-color-black)', overflow: 'visible' } } }),
    Alert: Alert.extend({ styles: { title: { color: 'var(--mantine-color-black)' } } }),
    Anchor: Anchor.extend({ defaultProps: { underline: 'always' } }),
    // The × of every dialog has a name screen readers can say (Mantine's has none).
    Modal: Modal.extend({ defaultProps: { closeButtonProps: { 'aria-label': 'Close' } } }),
    Drawer: Drawer.extend({ defaultProps: { closeButtonProps: { 'aria-label': 'Close' } } }),
  },
});

/**
 * Dimmed text one shade darker than Mantine's default (gray.6 is 3.3:1 on white), and so are
 * field errors (red.6 is 3.6:1; red.8 passes 4.5:1) — a message under a field and the invalid
 * field's own text. The primary colour's "light" variant (the active navigation link, light
 * buttons) writes indigo.9 on indigo.1, and on indigo.2 under the pointer: 4.13:1 there, so its
 * text is indigo.9 darkened by a fifth (5.6:1 under the pointer).
 */
export const cssVariablesResolver: CSSVariablesResolver = (t) => ({
  variables: {},
  light: {
    '--mantine-color-dimmed': t.colors.gray[7],
    '--mantine-color-error': t.colors.red[8],
    [`--mantine-color-${t.primaryColor}-light-color`]: darken(t.colors[t.primaryColor]![9], 0.2),
  },
  dark: {},
});
