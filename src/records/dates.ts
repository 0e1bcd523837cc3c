/**
 * Dates as people and systems type them. Everywhere a date is asked for (ticket fields, the API,
 * account files, the CLI) both forms are accepted and every message says so in the same words:
 * a calendar date `YYYY-MM-DD` (a UTC day) or an ISO 8601 timestamp with `Z` or an offset. A
 * timestamp without an offset is refused: whose midnight it means cannot be known.
 */

/** The one phrase every message about a date uses. */
export const DATE_INPUT_HINT = 'a date as YYYY-MM-DD or an ISO 8601 timestamp such as 2026-05-01T00:00:00Z';

export interface DateInput {
  /** The UTC calendar day: the date as given, or the UTC day of the timestamp. */
  readonly date: string;
  /** The instant: 00:00 UTC of a date, or the timestamp itself (normalised to UTC). */
  readonly instant: string;
  /** True when only a date was given (no time of day). */
  readonly dateOnly: boolean;
}

const DATE_OR_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/i;

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Midnight UTC of a calendar day, refusing days that do not exist (2026-02-30). Years 0–9999. */
function utcDay(y: number, m: number, d: number): Date | null {
  const t = new Date(0);
  t.setUTCFullYear(y, m - 1, d);
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d ? t : null;
}

const dayOf = (t: Date): string => `${pad(t.getUTCFullYear(), 4)}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;

/** Parses `YYYY-MM-DD` or an ISO 8601 timestamp with an offset; null for anything else. */
export function parseDateInput(raw: string): DateInput | null {
  const s = raw.trim();
  const m = DATE_OR_TIMESTAMP.exec(s);
  if (!m) return null;
  const day = utcDay(Number(m[1]), Number(m[2]), Number(m[3]));
  if (!day) return null;
  if (m[4] === undefined) return { date: s, instant: day.toISOString(), dateOnly: true };
  const [h, min, sec] = [Number(m[4]), Number(m[5]), Number(m[6] ?? 0)];
  if (h > 23 || min > 59 || sec > 59) return null;
  const zone = m[8]!.toUpperCase();
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
    if (Number(z[2]) > 23 || Number(z[3]) > 59) return null;
    offsetMinutes = (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3]));
  }
  const ms = Math.floor(Number((m[7] ?? '.0').slice(0, 4).padEnd(4, '0').slice(1)));
  const t = new Date(day.getTime() + ((h * 60 + min - offsetMinutes) * 60 + sec) * 1000 + ms);
  if (Number.isNaN(t.getTime())) return null;
  return { date: dayOf(t), instant: t.toISOString(), dateOnly: false };
}

/** The UTC calendar day after `date` (YYYY-MM-DD), at 00:00 UTC: the exclusive end of an inclusive date. */
export function startOfNextDay(date: string): string {
  const d = parseDateInput(date);
  if (!d) throw new RangeError(`not ${DATE_INPUT_HINT}: ${date}`);
  return new Date(Date.parse(d.instant) + 86_400_000).toISOString();
}
