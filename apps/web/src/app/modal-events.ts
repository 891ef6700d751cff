/**
 * The modals provider loads after the first paint (see Extras.tsx). `modals.openConfirmModal`
 * and friends (@mantine/modals) are window events named `mantine-modals:<action>`; until the
 * provider listens, they are held here and replayed in order when it does, so a click that
 * comes early is not lost.
 */
const ACTIONS = ['openModal', 'openConfirmModal', 'openContextModal', 'closeModal', 'closeAllModals', 'updateModal', 'updateContextModal'];
const held: CustomEvent[] = [];
const hold = (e: Event) => void held.push(e as CustomEvent);
let holding = false;

export function holdModalEvents(): void {
  if (holding || typeof window === 'undefined') return;
  holding = true;
  for (const a of ACTIONS) window.addEventListener(`mantine-modals:${a}`, hold);
}

/** Called once the provider listens: stop holding and replay what came meanwhile. */
export function releaseModalEvents(): void {
  if (!holding) return;
  holding = false;
  for (const a of ACTIONS) window.removeEventListener(`mantine-modals:${a}`, hold);
  for (const e of held.splice(0)) window.dispatchEvent(new CustomEvent(e.type, { detail: e.detail }));
}
