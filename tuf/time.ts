/**
 * Expiry times as Notary writes and reads them (spec 2.3): RFC 3339 with nanoseconds and trailing
 * fractional zeros trimmed; we always write UTC (`Z`).
 */
import { TufError } from './errors';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Parse an RFC 3339 time to epoch milliseconds; a malformed or impossible date is an error. */
export function parseRfc3339(s: string): number {
  const m = RFC3339.exec(s);
  if (!m) throw new TufError('JSON_TYPE', `bad RFC 3339 time ${JSON.stringify(s.slice(0, 64))}`);
  const [y, mo, d, h, mi, se] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  const frac = m[7] ? Number((m[7] + '000').slice(0, 3)) : 0;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) {
    throw new TufError('JSON_TYPE', `bad RFC 3339 time ${JSON.stringify(s)}`);
  }
  let t = Date.UTC(y, mo - 1, d, h, mi, se, frac);
  if (new Date(t).getUTCDate() !== d) throw new TufError('JSON_TYPE', `bad RFC 3339 date ${JSON.stringify(s)}`);
  if (m[9]) {
    const offsetMin = Number(m[10]) * 60 + Number(m[11]);
    if (Number(m[10]) > 23 || Number(m[11]) > 59) throw new TufError('JSON_TYPE', `bad zone offset in ${JSON.stringify(s)}`);
    t -= (m[9] === '+' ? 1 : -1) * offsetMin * 60000;
  }
  return t;
}

/** Go's time.Format(RFC3339Nano) of a UTC time: fraction with trailing zeros removed. */
export function formatGoTime(t: Date | number, extraNanos = 0): string {
  const d = typeof t === 'number' ? new Date(t) : t;
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const nanos = (d.getUTCMilliseconds() * 1_000_000 + (extraNanos % 1_000_000)).toString().padStart(9, '0');
  const frac = nanos.replace(/0+$/, '');
  return iso.slice(0, 19) + (frac ? '.' + frac : '') + 'Z';
}

/** An expiry `lifetimeMs` from `now`, written as Go writes it. */
export function expiryFrom(now: number, lifetimeMs: number): string {
  return formatGoTime(now + lifetimeMs);
}
