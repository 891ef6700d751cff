import { describe, expect, it } from 'vitest';
import { SharedRecentRefusals, type RefusalNote } from './refusals.js';

describe('SharedRecentRefusals', () => {
  it('tells the other workers what it remembers and what it used up', () => {
    const notes: RefusalNote[] = [];
    const a = new SharedRecentRefusals((n) => (notes.push(n), true));
    const b = new SharedRecentRefusals(() => true);
    a.remember('192.0.2.1', 'route_disabled', 'orders.acme.example.com');
    expect(notes).toEqual([{ t: 'refusal', address: '192.0.2.1', code: 'route_disabled', hostname: 'orders.acme.example.com' }]);
    // The primary relays the note: the plaintext retry lands on worker b, which explains it.
    b.applyNote(notes[0]!);
    expect(b.take('192.0.2.1')).toMatchObject({ code: 'route_disabled', hostname: 'orders.acme.example.com' });
    // Taking is announced too, so worker a does not explain a later plaintext client.
    const taken: RefusalNote[] = [];
    const c = new SharedRecentRefusals((n) => (taken.push(n), true));
    c.applyNote(notes[0]!);
    expect(c.take('192.0.2.1')).not.toBeNull();
    expect(taken).toEqual([{ t: 'refusal-taken', address: '192.0.2.1' }]);
    a.applyNote(taken[0]!);
    expect(a.take('192.0.2.1')).toBeNull();
  });

  it('applies relayed notes without sending them on', () => {
    const notes: RefusalNote[] = [];
    const a = new SharedRecentRefusals((n) => (notes.push(n), true));
    a.applyNote({ t: 'refusal', address: '192.0.2.2', code: 'unknown_host', hostname: null });
    a.applyNote({ t: 'refusal-taken', address: '192.0.2.3' });
    expect(notes).toEqual([]);
    expect(a.take('192.0.2.3')).toBeNull();
  });
});
