/**
 * What no page needs for its first paint: the toast container and the modals provider. Loaded
 * as its own chunk after the first paint (App.tsx), so their code is not compiled before it.
 * Toasts shown earlier wait in Mantine's store; modal requests wait in modal-events.ts.
 */
import '@mantine/notifications/styles.css';
import { ModalsProvider } from '@mantine/modals';
import { Notifications } from '@mantine/notifications';
import { useEffect } from 'react';
import { releaseModalEvents } from './modal-events';

function Release() {
  // Runs after ModalsProvider (an earlier sibling) has added its listeners.
  useEffect(() => releaseModalEvents(), []);
  return null;
}

export default function Extras() {
  return (
    <>
      <Notifications position="top-right" />
      <ModalsProvider />
      <Release />
    </>
  );
}
