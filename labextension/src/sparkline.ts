/**
 * Sparkline geometry, kept apart from the views so it can be tested without a DOM.
 */

export interface ISparkGeometry {
  /** SVG path data ("M x y L x y ..."), empty when there is nothing to draw. */
  path: string;
  min: number;
  max: number;
  last: number | null;
}

/**
 * Scale `values` into a `width` x `height` box (y grows downwards), with `pad` pixels kept free
 * top and bottom. A flat series draws a line through the middle; one point draws a short dash.
 */
export function sparkline(values: number[], width: number, height: number, pad = 2): ISparkGeometry {
  const clean = values.filter(v => typeof v === 'number' && isFinite(v));
  if (clean.length === 0) {
    return { path: '', min: 0, max: 0, last: null };
  }
  const min = Math.min(...clean);
  const max = Math.max(...clean);
  const span = max - min;
  const inner = Math.max(0, height - 2 * pad);
  const y = (v: number) => (span === 0 ? height / 2 : pad + inner * (1 - (v - min) / span));
  const last = clean[clean.length - 1];
  if (clean.length === 1) {
    const yy = round(y(last));
    return { path: `M0 ${yy} L${round(width)} ${yy}`, min, max, last };
  }
  const step = width / (clean.length - 1);
  const parts = clean.map((v, i) => `${i === 0 ? 'M' : 'L'}${round(i * step)} ${round(y(v))}`);
  return { path: parts.join(' '), min, max, last };
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

/** A short human number: 1234 -> "1.2k", 0.01234 -> "0.0123". */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !isFinite(v)) {
    return '–';
  }
  const a = Math.abs(v);
  if (a >= 1e6) {
    return `${(v / 1e6).toFixed(1)}M`;
  }
  if (a >= 1e3) {
    return `${(v / 1e3).toFixed(1)}k`;
  }
  if (a >= 100 || Number.isInteger(v)) {
    return String(Math.round(v));
  }
  return a >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

/**
 * A server time with its offset. The server writes UTC only, and some listings leave the offset out
 * ("2026-01-01T12:00:00.5", read back from SQLite): such a time is UTC, which Date.parse would
 * otherwise take as the browser's local time.
 */
export function withUtcOffset(iso: string): string {
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(iso) ? `${iso}Z` : iso;
}

/** Epoch ms of a server time (see withUtcOffset). */
export function parseServerTime(iso: string): number {
  return Date.parse(withUtcOffset(iso));
}

/** A server time in the browser's locale and time zone ("" for none, the text itself if unreadable). */
export function localTime(iso: string | undefined | null): string {
  if (!iso) {
    return '';
  }
  const t = parseServerTime(iso);
  return isNaN(t) ? iso : new Date(t).toLocaleString();
}

/** "3 min ago", "2 h ago", "5 d ago", or the date, from an ISO time. */
export function relativeTime(iso: string | undefined | null, now: number = Date.now()): string {
  if (!iso) {
    return '';
  }
  const t = parseServerTime(iso);
  if (isNaN(t)) {
    return iso;
  }
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) {
    return 'just now';
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min ago`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)} h ago`;
  }
  if (s < 30 * 86400) {
    return `${Math.floor(s / 86400)} d ago`;
  }
  return new Date(t).toISOString().slice(0, 10);
}
