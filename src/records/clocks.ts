import { z } from 'zod';
import { formatPath } from './catalog';
import { AppError } from './errors';
import { KINDS } from './kinds';
import type { Kind } from './kinds';

/**
 * The clocks (CLOCKS_FILE): how long a draft may wait, the turnaround target of each kind, when
 * the watchdog calls a failed or a scheduled record stuck, and an optional business calendar.
 * With a calendar, draft and turnaround targets count working time only; the one-hour limits on
 * failed and late scheduled records are operational and always count wall-clock time. Pure: no
 * clock of its own, instants come in.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

const hours = (what: string) =>
  z
    .number({ error: `expected ${what} in hours` })
    .positive(`expected ${what} in hours > 0`)
    .max(24 * 366, `${what} is more than a year`);
const perKind = (what: string) => z.object(Object.fromEntries(KINDS.map((k) => [k, hours(what)])) as Record<Kind, ReturnType<typeof hours>>).strict();
const time = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM (24 h)');
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

const BusinessHoursSchema = z
  .object({
    _comment: z.unknown().optional(),
    /** IANA time zone the hours and holidays are in, e.g. Europe/Berlin. */
    time_zone: z.string().refine((tz) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'expected an IANA time zone such as Europe/Berlin'),
    days: z.array(z.enum(WEEKDAYS, { error: `expected ${WEEKDAYS.join(', ')}` })).min(1, 'list at least one working day'),
    open: time,
    close: time,
    /** Local dates with no working hours. */
    holidays: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')).default([]),
  })
  .strict()
  .refine((b) => b.open < b.close, { message: 'close must be after open', path: ['close'] });

export const ClocksSchema = z
  .object({
    _comment: z.unknown().optional(),
    /** A draft older than this (per kind) is brought to the team's attention. */
    draft_hours: perKind('a draft target'),
    /** Ticket to confirmed, per kind (time spent scheduled, waiting for the effective date, not counted). */
    turnaround_hours: perKind('a turnaround target'),
    /** A record still open once this share of its turnaround target has passed will likely miss it. */
    at_risk_share: z.number().gt(0).max(1).default(0.75),
    failed_after_hours: hours('failed_after_hours').default(1),
    scheduled_grace_hours: hours('scheduled_grace_hours').default(1),
    business_hours: BusinessHoursSchema.optional(),
  })
  .strict();

export type Clocks = z.infer<typeof ClocksSchema>;
export type BusinessHours = z.infer<typeof BusinessHoursSchema>;

export function parseClocks(json: unknown, source: string): Clocks {
  const r = ClocksSchema.safeParse(json);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => ({ field: formatPath(i.path), message: i.message }));
  throw new AppError('validation_failed', `${source}: invalid clocks file:\n${problems.map((p) => `  - ${p.field}: ${p.message}`).join('\n')}`, { problems });
}

// ---------------------------------------------------------------------------------------------
// Working time

const dtfCache = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = dtfCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    dtfCache.set(tz, f);
  }
  return f;
}

/** Local time minus UTC at an instant, in ms (+3 600 000 for Berlin in winter). */
function offsetMs(tz: string, at: number): number {
  const p = Object.fromEntries(
    formatter(tz)
      .formatToParts(new Date(at))
      .map((x) => [x.type, x.value]),
  );
  const asUtc = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return asUtc - Math.floor(at / 1000) * 1000;
}

/** The instant a local wall-clock time occurs in `tz` (a time skipped by DST falls on the later offset). */
export function zonedInstant(tz: string, y: number, m: number, d: number, hh: number, mm: number): number {
  const guess = Date.UTC(y, m - 1, d, hh, mm);
  const first = offsetMs(tz, guess);
  const second = offsetMs(tz, guess - first);
  return guess - (second === first ? first : second);
}

/**
 * Measures elapsed time, either wall-clock (no calendar) or working time only. Working windows
 * are built once per day of the span asked about and kept as running totals, so measuring many
 * records costs two binary searches each.
 */
export class WorkingTime {
  private starts: number[] = [];
  private ends: number[] = [];
  private before: number[] = [];
  private from = Infinity;
  private to = -Infinity;

  constructor(readonly calendar: BusinessHours | null | undefined) {}

  /** Milliseconds between two instants that count (0 when `end` is not after `start`). */
  elapsed(start: number, end: number): number {
    if (!(end > start)) return 0;
    if (!this.calendar) return end - start;
    // Both ends covered first: building more of the span moves the totals' origin.
    this.cover(start);
    this.cover(end);
    return this.cumulative(end) - this.cumulative(start);
  }

  /** Counted time from the start of the built span to `t` (covered). */
  private cumulative(t: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    let i = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! <= t) {
        i = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (i < 0) return 0;
    return this.before[i]! + Math.min(t, this.ends[i]!) - this.starts[i]!;
  }

  /** Builds windows for every local day around `t` not built yet (the whole span is rebuilt: it only grows). */
  private cover(t: number): void {
    if (t >= this.from && t < this.to) return;
    // Local dates lie within a day of the UTC date; a week of margin avoids rebuilding for neighbours.
    const from = Math.min(this.from, Math.floor(t / DAY_MS) * DAY_MS - 7 * DAY_MS);
    const to = Math.max(this.to, Math.floor(t / DAY_MS) * DAY_MS + 8 * DAY_MS);
    const cal = this.calendar!;
    const [oh, om] = cal.open.split(':').map(Number) as [number, number];
    const [ch, cm] = cal.close.split(':').map(Number) as [number, number];
    const days = new Set<number>(cal.days.map((d) => WEEKDAYS.indexOf(d)));
    const holidays = new Set(cal.holidays);
    const starts: number[] = [];
    const ends: number[] = [];
    const before: number[] = [];
    let total = 0;
    for (let day = from; day < to; day += DAY_MS) {
      const d = new Date(day);
      const iso = d.toISOString().slice(0, 10);
      if (!days.has(d.getUTCDay()) || holidays.has(iso)) continue;
      const [y, m, dd] = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
      const s = zonedInstant(cal.time_zone, y, m, dd, oh, om);
      const e = zonedInstant(cal.time_zone, y, m, dd, ch, cm);
      starts.push(s);
      ends.push(e);
      before.push(total);
      total += e - s;
    }
    // Windows of local days at the span's edges may start outside it: only fully built days are trusted.
    this.starts = starts;
    this.ends = ends;
    this.before = before;
    this.from = from + DAY_MS;
    this.to = to - DAY_MS;
  }
}

/**
 * Handling time of a record: from its creation (the ticket) to `end`, less the time it waited
 * scheduled for its effective date (the customer chose that wait). Counted as `clock` counts.
 */
export function handlingMs(clock: WorkingTime, createdAt: number, end: number, pauses: readonly (readonly [number, number])[] = []): number {
  let ms = clock.elapsed(createdAt, end);
  for (const [s, e] of pauses) ms -= clock.elapsed(Math.max(s, createdAt), Math.min(e, end));
  return Math.max(0, ms);
}

export const hoursToMs = (h: number): number => Math.round(h * HOUR_MS);
