import { fireEvent, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { renderUi } from '../test/render';
import { SecretOnce } from './SecretOnce';

const SECRET = 'sy_pat_5tusm7yu9r.0123456789abcdefghijklmnopqrstuvwxyz';

afterEach(() => vi.unstubAllGlobals());

describe('SecretOnce', () => {
  it('cannot be dismissed by Escape, a click beside it or a close button: only "I have stored it" ends it', async () => {
    const onDone = vi.fn();
    renderUi(<SecretOnce title="Platform token terraform created" label="Token" secret={SECRET} onDone={onDone} />);
    const dialog = await screen.findByRole('dialog', { name: 'Platform token terraform created' });
    expect(screen.getByTestId('secret-once')).toHaveTextContent(SECRET);
    fireEvent.keyDown(dialog, { key: 'Escape' });
    fireEvent.keyDown(document, { key: 'Escape' });
    const overlay = document.querySelector('.mantine-Modal-overlay');
    if (overlay) fireEvent.mouseDown(overlay);
    if (overlay) fireEvent.click(overlay);
    expect(screen.queryByRole('button', { name: /close/i })).toBeNull();
    expect(onDone).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'I have stored it' }));
    expect(onDone).toHaveBeenCalledOnce();
  });

  it('copies exactly the secret', async () => {
    const writeText = vi.fn(() => Promise.resolve());
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } });
    renderUi(<SecretOnce title="Initial password of a@b.test" label="Password" secret={SECRET} onDone={() => {}} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Copy password' }));
    expect(writeText).toHaveBeenCalledWith(SECRET);
    await waitFor(() => expect(screen.getByRole('button', { name: 'Copied' })).toBeInTheDocument());
  });

  it('shows nothing once the secret is gone', () => {
    renderUi(<SecretOnce title="Token created" label="Token" secret={null} onDone={() => {}} />);
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(screen.queryByText(SECRET)).toBeNull();
  });
});
