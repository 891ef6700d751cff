import { describe, expect, it } from 'vitest';
import { orderFromRow, parseControlOrder, workerOfConnection } from './control.js';

describe('control orders', () => {
  const order = { op: 'terminate', proxyId: 'proxy-a', connectionId: '2.17', by: 'user:ada@example.com' };

  it('parses a terminate order', () => {
    expect(parseControlOrder(JSON.stringify(order))).toEqual(order);
  });

  it('parses an order carrying its row id, and one read back from control_orders', () => {
    expect(parseControlOrder(JSON.stringify({ ...order, orderId: '42' }))).toEqual({ ...order, orderId: '42' });
    const row = { order_id: '7', op: 'terminate', proxy_id: 'proxy-a', connection_id: '2.17', ended_by: 'user:ada@example.com', proxy_started_at: '1796000000123' };
    expect(orderFromRow(row)).toEqual({ ...order, orderId: '7', proxyStartedAt: 1796000000123 });
    expect(orderFromRow({ ...row, op: 'reload' })).toBeNull();
  });

  it.each([
    ['a malformed order id', JSON.stringify({ ...order, orderId: 'x1' })],
    ['a malformed process start', JSON.stringify({ ...order, proxyStartedAt: '2026' })],
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
