import { formatNumber, parseServerTime, relativeTime, sparkline, withUtcOffset } from '../sparkline';

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

  it("reads a server time without an offset as UTC, not as the browser's local time", () => {
    // A key listing: SQLite hands the time back without "+00:00"; a creation's answer has it.
    expect(withUtcOffset('2026-12-01T05:47:40.348882')).toBe('2026-12-01T05:47:40.348882Z');
    expect(withUtcOffset('2026-12-01T05:47')).toBe('2026-12-01T05:47Z');
    expect(withUtcOffset('2026-12-01T05:47:40.348882+00:00')).toBe('2026-12-01T05:47:40.348882+00:00');
    expect(withUtcOffset('2026-12-01T05:47:40Z')).toBe('2026-12-01T05:47:40Z');
    expect(parseServerTime('2026-12-01T05:47:40.348882')).toBe(Date.UTC(2026, 11, 1, 5, 47, 40, 348));
    const now = Date.parse('2026-12-01T06:00:00Z');
    expect(relativeTime('2026-12-01T05:47:40.348882', now)).toBe('12 min ago');
    expect(relativeTime('2026-12-01T05:47:40.348882+00:00', now)).toBe('12 min ago');
  });
});
