/**
 * jsdom lacks what Mantine measures with (matchMedia, ResizeObserver, document.fonts for an
 * autosizing Textarea); the stand-ins below answer "no preference" / "no size" / "no fonts
 * loading". Requests the test did not answer fail loudly: a
 * component test never reaches a network.
 */
import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterEach, vi } from 'vitest';

afterEach(() => cleanup());

Object.defineProperty(window, 'matchMedia', {
  writable: true,
  value: (query: string) => ({
    matches: false,
    media: query,
    onchange: null,
    addListener: () => {},
    removeListener: () => {},
    addEventListener: () => {},
    removeEventListener: () => {},
    dispatchEvent: () => false,
  }),
});
class NoResize {
  observe() {}
  unobserve() {}
  disconnect() {}
}
window.ResizeObserver = window.ResizeObserver ?? NoResize;
if (!('fonts' in document)) Object.defineProperty(document, 'fonts', { value: new EventTarget() });
if (!('scrollIntoView' in window.HTMLElement.prototype)) Object.assign(window.HTMLElement.prototype, { scrollIntoView() {} });
vi.stubGlobal('fetch', (input: RequestInfo | URL) => Promise.reject(new Error(`unexpected request in a component test: ${String(input instanceof Request ? input.url : input)}`)));
