import { compareIds } from './trim';

describe('compareIds', () => {
  test('orders by milliseconds, then by sequence, numerically', () => {
    expect(compareIds('1-0', '2-0')).toBe(-1);
    expect(compareIds('10-0', '9-5')).toBe(1);
    expect(compareIds('5-10', '5-9')).toBe(1);
    expect(compareIds('5-1', '5-1')).toBe(0);
    expect(compareIds('1700000000000-0', '999999999999-99')).toBe(1);
  });
});
