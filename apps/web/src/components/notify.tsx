import { notifications } from '@mantine/notifications';
import { describeError } from '../lib/api/errors';

/** A failed action as a toast: the API's code and message, and the request id to quote. */
export function notifyError(err: unknown, action: string, messages?: string[]): void {
  const d = describeError(err);
  notifications.show({
    color: 'red',
    title: `${action} failed`,
    autoClose: 10_000,
    message: (
      <>
        {(messages?.length ? messages : [d.message]).map((m) => (
          <span key={m} style={{ display: 'block' }}>
            {m}
          </span>
        ))}
        <span style={{ display: 'block', opacity: 0.75, fontSize: 12 }}>
          {d.title}
          {d.requestId ? ` · request ${d.requestId}` : ''}
        </span>
      </>
    ),
  });
}

export function notifyDone(message: string): void {
  notifications.show({ color: 'green', message, autoClose: 4000 });
}
