/**
 * True inside the signed-in frame's main area (AppLayout's `<main>`): a page shown there must not
 * be a `<main>` of its own (one main landmark per page), one shown without the frame must.
 */
import { createContext } from 'react';

export const InShell = createContext(false);
