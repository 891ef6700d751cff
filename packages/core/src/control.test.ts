import { describe, expect, it } from 'vitest';
import { parseControlOrder, workerOfConnection } from './control.js';

describe('control orders', () => {
  const order = { op: 'terminate', proxyId: 'proxy-a', connectionId: '2.17', by: 'user:ada@example.com' };

  it('parses a terminate order', () => {
    expect(parseControlOrder(JSON.stringify(order))).toEqual(order);
  });

  it.each([
    ['not JSON', 'terminate 2.17'],
    ['a number', '42'],
    ['null', 'null'],
    ['another op', JSON.stringify({ ...order, op: 'reload' })],
    ['a malformed connection id', JSON.stringify({ ...order, connectionId: '2-17' })],
    ['no proxy', JSON.stringify({ ...order, proxyId: '' })],
    ['no actor', JSON.stringify({ ...order, by: '' })],
    ['an oversized payload', JSON.stringify({ ...order, by: 'x'.repeat(9000) })],
  ])('ignores %s', (_name, payload) => {
    expect(parseControlOrder(payload)).toBeNull();
  });

  it('finds the worker holding a connection', () => {
    expect(workerOfConnection('0.5')).toBe(0);
    expect(workerOfConnection('12.9001')).toBe(12);
    expect(workerOfConnection('x.1')).toBeNull();
  });
});
