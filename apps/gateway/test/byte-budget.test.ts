import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../src/bridge/byte-budget.js';

describe('ByteBudget', () => {
  it('admits up to the limit, then in arrival order as bytes are given back', async () => {
    const budget = new ByteBudget(100);
    expect(budget.tryTake(60)).toBe(true);
    expect(budget.tryTake(50)).toBe(false);
    const order: string[] = [];
    const a = budget.take(50).then(() => order.push('a'));
    const b = budget.take(10).then(() => order.push('b'));
    // b would fit (60 + 10) but must not overtake a.
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual([]);
    budget.give(60);
    await Promise.all([a, b]);
    expect(order).toEqual(['a', 'b']);
    expect(budget.held).toBe(60);
  });

  it('lets one payload larger than the whole limit through alone', async () => {
    const budget = new ByteBudget(10);
    expect(budget.tryTake(5)).toBe(true);
    const big = budget.take(1000);
    budget.give(5);
    await big;
    expect(budget.held).toBe(1000);
  });

  it('rejects waiters when closed', async () => {
    const budget = new ByteBudget(1);
    budget.tryTake(1);
    const waiting = budget.take(1);
    budget.close();
    await expect(waiting).rejects.toThrow(/closed/);
  });
});
