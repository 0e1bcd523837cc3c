import { z } from 'zod';
import { formatPath } from './catalog';
import { AppError } from './errors';
import { KINDS } from './kinds';
import type { Kind, State } from './kinds';

/**
 * Retention (RETENTION_FILE): per record kind, how many days after a record is finished its
 * personal data is kept. Closed accounts carry their own `data_retention_until` (set by the
 * closure). Pure: the purge's clock comes in.
 */

const days = z.number({ error: 'expected a number of days' }).int('expected whole days').min(1, 'expected at least 1 day').max(36_500, 'more than 100 years');

export const RetentionSchema = z
  .object({
    _comment: z.unknown().optional(),
    record_days: z.object(Object.fromEntries(KINDS.map((k) => [k, days])) as Record<Kind, typeof days>).strict(),
  })
  .strict();
export type Retention = z.infer<typeof RetentionSchema>;

export function parseRetention(json: unknown, source: string): Retention {
  const r = RetentionSchema.safeParse(json);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => ({ field: formatPath(i.path), message: i.message }));
  throw new AppError('field_map_invalid', `${source}: invalid retention file:\n${problems.map((p) => `  - ${p.field}: ${p.message}`).join('\n')}`, {
    problems,
  });
}

/** States in which nothing more happens to a record: its retention period runs from the last change. */
export const FINISHED_STATES: readonly State[] = ['confirmed', 'closed', 'rejected', 'cancelled', 'resolved'];

/** Per kind, the instant before which a finished record's personal data has expired at `now`. */
export function recordCutoffs(retention: Retention, now: Date): Record<Kind, string> {
  return Object.fromEntries(KINDS.map((k) => [k, new Date(now.getTime() - retention.record_days[k] * 86_400_000).toISOString()])) as Record<Kind, string>;
}

/** The UTC date of `now` (YYYY-MM-DD): a `data_retention_until` before it has passed. */
export const utcToday = (now: Date): string => now.toISOString().slice(0, 10);
