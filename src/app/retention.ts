import type { Kind } from '../records/kinds';
import type { Clock } from '../records/ports';
import { FINISHED_STATES, recordCutoffs, utcToday } from '../records/retention';
import type { Retention } from '../records/retention';
import type { PrivacyStore } from './privacy';

/**
 * The retention purge (a repeating job, and `lifecycle-desk privacy purge`): erases the personal
 * data that has outlived its retention — whole accounts whose closure's `data_retention_until` has
 * passed, and finished records older than their kind's `record_days` — each once, and reports what
 * it did. Idempotent: what was erased for retention is not selected again.
 */

export interface RetentionSource {
  /** Accounts whose applied closure's `data_retention_until` is before `today`, not yet erased for retention. */
  expiredAccounts(today: string, limit: number): Promise<{ account_id: string; data_retention_until: string }[]>;
  /** Finished records last changed before their kind's cutoff, whose personal data is not yet erased for retention. */
  expiredRecords(cutoffs: Record<Kind, string>, finished: readonly string[], limit: number): Promise<{ id: string; account_id: string; kind: Kind }[]>;
}

export interface RetentionReport {
  readonly at: string;
  readonly dry_run: boolean;
  readonly accounts: { account_id: string; data_retention_until: string }[];
  readonly records: { id: string; account_id: string; kind: Kind }[];
}

export const RETENTION_ACTOR = 'retention-purge';

export async function purgeExpired(
  deps: { source: RetentionSource; privacy: Pick<PrivacyStore, 'erase' | 'eraseRecord'>; clock: Clock; retention: Retention },
  opts: { dryRun?: boolean; limit?: number } = {},
): Promise<RetentionReport> {
  const now = deps.clock.now();
  const at = now.toISOString();
  const limit = opts.limit ?? 500;
  const accounts = await deps.source.expiredAccounts(utcToday(now), limit);
  const records = await deps.source.expiredRecords(recordCutoffs(deps.retention, now), FINISHED_STATES, limit);
  const erasedAccounts = new Set<string>();
  if (!opts.dryRun) {
    for (const a of accounts) {
      await deps.privacy.erase(a.account_id, {
        by: RETENTION_ACTOR,
        reason: `data_retention_until ${a.data_retention_until} has passed`,
        at,
        kind: 'retention',
      });
      erasedAccounts.add(a.account_id);
    }
    for (const r of records) {
      await deps.privacy.eraseRecord(r.id, {
        by: RETENTION_ACTOR,
        reason: `${r.kind} records keep personal data ${deps.retention.record_days[r.kind]} days after they are finished`,
        at,
      });
    }
  }
  return { at, dry_run: !!opts.dryRun, accounts, records };
}

export function formatRetentionReport(r: RetentionReport): string {
  const verb = r.dry_run ? 'would erase' : 'erased';
  const lines = [
    `retention purge at ${r.at}: ${verb} ${r.accounts.length} account(s) past data_retention_until and ${r.records.length} finished record(s) past their kind's retention`,
    ...r.accounts.map((a) => `  account ${a.account_id} (data_retention_until ${a.data_retention_until})`),
    ...r.records.map((x) => `  record ${x.id} (${x.kind}, account ${x.account_id})`),
  ];
  return lines.join('\n') + '\n';
}
