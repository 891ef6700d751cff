/**
 * Status colours that keep WCAG AA contrast (≥ 4.5:1) both as text on white (outline badges)
 * and under white text (filled badges); Mantine's green/orange shades 6–9 do not.
 */
export const STATUS = {
  good: '#1e6b30',
  bad: '#b02a1a',
  warn: '#8a5a00',
  other: '#862e9c',
  neutral: '#495057',
} as const;
