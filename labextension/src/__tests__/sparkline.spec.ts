import { formatNumber, relativeTime, sparkline } from '../sparkline';

describe('sparkline', () => {
  it('scales the series into the box, highest value at the top', () => {
    const g = sparkline([0, 5, 10], 100, 20, 0);
    expect(g.path).toBe('M0 20 L50 10 L100 0');
    expect([g.min, g.max, g.last]).toEqual([0, 10, 10]);
  });

  it('draws a flat series through the middle and nothing for no data', () => {
    expect(sparkline([3, 3], 10, 20).path).toBe('M0 10 L10 10');
    expect(sparkline([], 10, 20)).toEqual({ path: '', min: 0, max: 0, last: null });
    expect(sparkline([NaN], 10, 20).path).toBe('');
  });
});

describe('formatting', () => {
  it('formats numbers short', () => {
    expect(formatNumber(1234)).toBe('1.2k');
    expect(formatNumber(42)).toBe('42');
    expect(formatNumber(3.14159)).toBe('3.14');
    expect(formatNumber(0.012345)).toBe('0.0123');
    expect(formatNumber(null)).toBe('–');
  });

  it('says how long ago', () => {
    const now = Date.parse('2026-01-02T00:00:00Z');
    expect(relativeTime('2026-01-01T23:59:30Z', now)).toBe('just now');
    expect(relativeTime('2026-01-01T23:50:00Z', now)).toBe('10 min ago');
    expect(relativeTime('2026-01-01T21:00:00Z', now)).toBe('3 h ago');
    expect(relativeTime('2025-12-30T00:00:00Z', now)).toBe('3 d ago');
  });
});
