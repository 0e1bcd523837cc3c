import type { Knex } from 'knex';
import type { ErasureCounts, PrivacyStore } from '../app/privacy';
import type { RetentionSource } from '../app/retention';
import type { Kind } from '../records/kinds';
import { ERASED, eraseFreeText } from '../records/personal-data';
import { KnexAuditAppender } from './audit.repository';
import { auditFromRow, recordFromRow } from './mappers';
import type { AuditRow, RecordRow } from './mappers';
import { resolveEvents } from './personal-data.repository';

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The account's personal data, in PostgreSQL (see src/app/privacy.ts). */
export class KnexPrivacyStore implements PrivacyStore {
  constructor(private readonly db: Knex) {}

  async erase(accountId: string, input: { by: string; reason: string; at: string; kind?: 'request' | 'retention' }): Promise<ErasureCounts | null> {
    return this.db.transaction(async (trx) => {
      const account = (await trx('accounts').where({ id: accountId }).forUpdate().first('id', 'name', 'contacts')) as
        { id: string; name: string; contacts: string[] } | undefined;
      if (!account) return null;
      const at = new Date(input.at);
      const personal = await trx('personal_data')
        .where({ account_id: accountId })
        .whereNull('erased_at')
        .update({ value: null, erased_at: at, erased_by: input.by });
      const accountChanged = account.name !== ERASED || account.contacts.length > 0;
      if (accountChanged)
        await trx('accounts')
          .where({ id: accountId })
          .update({ name: ERASED, contacts: JSON.stringify([]) });

      const blanked = await blankRecords(trx, trx('lifecycle_records').where({ account_id: accountId }));
      // Events older than the side table still hold personal values: blanked in place, hash kept (the privacy.erased below vouches for them).
      const redacted = ((await trx.raw('SELECT audit_redact_legacy(?) AS seqs', [accountId])) as { rows: { seqs: number[] }[] }).rows[0]!.seqs;
      const counts: ErasureCounts = { personal_values: personal, ...blanked, account: accountChanged, legacy_events: redacted.length };
      await new KnexAuditAppender(trx).append([
        {
          account_id: accountId,
          record_id: null,
          type: 'privacy.erased',
          actor: input.kind === 'retention' ? { role: 'system', id: input.by } : { role: 'supervisor', id: input.by },
          occurred_at: input.at,
          // The request's reason is free text (kept in the side table, so a later erasure covers it too).
          data: {
            reason: input.reason,
            erased: { ...counts },
            ...(redacted.length ? { redacted_seqs: redacted } : {}),
            ...(input.kind === 'retention' ? { retention: true } : {}),
          },
        },
      ]);
      return counts;
    });
  }

  async eraseRecord(recordId: string, input: { by: string; reason: string; at: string }): Promise<ErasureCounts | null> {
    return this.db.transaction(async (trx) => {
      const record = (await trx('lifecycle_records').where({ id: recordId }).first('id', 'account_id')) as { id: string; account_id: string } | undefined;
      if (!record) return null;
      const personal = await trx('personal_data')
        .where({ record_id: recordId })
        .whereNull('erased_at')
        .update({ value: null, erased_at: new Date(input.at), erased_by: input.by });
      const blanked = await blankRecords(trx, trx('lifecycle_records').where({ id: recordId }));
      const counts: ErasureCounts = { personal_values: personal, ...blanked, account: false, legacy_events: 0 };
      await new KnexAuditAppender(trx).append([
        {
          account_id: record.account_id,
          record_id: recordId,
          type: 'privacy.erased',
          actor: { role: 'system', id: input.by },
          occurred_at: input.at,
          data: { reason: input.reason, erased: { ...counts }, retention: true },
        },
      ]);
      return counts;
    });
  }

  async export(accountId: string, at: string): Promise<Record<string, unknown> | null> {
    const account = await this.db('accounts').where({ id: accountId }).first();
    if (!account) return null;
    const records = ((await this.db('lifecycle_records').where({ account_id: accountId }).orderBy('created_at')) as RecordRow[]).map(recordFromRow);
    const ids = records.map((r) => r.id);
    const [events, personal, decisions, emails] = await Promise.all([
      this.db<AuditRow>('audit_events').where({ account_id: accountId }).orderBy('seq'),
      this.db('personal_data')
        .where({ account_id: accountId })
        .orderBy([{ column: 'created_at' }, { column: 'id' }])
        .select('id', 'kind', 'value', 'created_at', 'erased_at', 'erased_by'),
      ids.length ? this.db('approval_decisions').whereIn('record_id', ids).select('record_id', 'approver_id', 'decision', 'reason', 'decided_at') : [],
      ids.length ? this.db('email_deliveries').whereIn('record_id', ids).select('record_id', 'outcome', 'status', 'subject', 'sent_at') : [],
    ]);
    return {
      exported_at: at,
      account,
      records,
      personal_data: personal,
      approval_decisions: decisions,
      emails,
      audit_events: await resolveEvents(this.db, events.map(auditFromRow)),
    };
  }
}

/**
 * Blanks the personal values of the selected records and of what hangs off them (decision reasons,
 * email subjects, outbox errors). The records' guard lets these updates through only as an erasure:
 * same version and state, values blanked.
 */
async function blankRecords(trx: Knex.Transaction, selected: Knex.QueryBuilder): Promise<{ records: number; decisions: number; emails: number }> {
  const rows = (await selected.forUpdate().select('id', 'requester', 'reason_text', 'details', 'problems')) as {
    id: string;
    requester: unknown;
    reason_text: string;
    details: Record<string, unknown>;
    problems: unknown[];
  }[];
  let records = 0;
  for (const r of rows) {
    const patch = { reason_text: r.reason_text ? ERASED : '', details: eraseFreeText(r.details), problems: eraseFreeText(r.problems) };
    if (r.requester === null && same(patch.reason_text, r.reason_text) && same(patch.details, r.details) && same(patch.problems, r.problems)) continue;
    await trx('lifecycle_records')
      .where({ id: r.id })
      .update({ requester: null, reason_text: patch.reason_text, details: JSON.stringify(patch.details), problems: JSON.stringify(patch.problems) });
    records += 1;
  }
  const ids = rows.map((r) => r.id);
  if (!ids.length) return { records, decisions: 0, emails: 0 };
  const decisions = await trx('approval_decisions').whereIn('record_id', ids).whereNotNull('reason').whereNot('reason', ERASED).update({ reason: ERASED });
  const emails = await trx('email_deliveries').whereIn('record_id', ids).whereNotNull('subject').whereNot('subject', ERASED).update({ subject: ERASED });
  // Job errors may quote an address or a provider's answer about it.
  await trx('outbox').whereRaw("payload->>'record_id' = ANY(?)", [ids]).whereNotNull('last_error').update({ last_error: null });
  return { records, decisions, emails };
}

/** What the retention purge selects (src/app/retention.ts). */
export class KnexRetentionSource implements RetentionSource {
  constructor(private readonly db: Knex) {}

  async expiredAccounts(today: string, limit: number): Promise<{ account_id: string; data_retention_until: string }[]> {
    const { rows } = await this.db.raw<{ rows: { account_id: string; data_retention_until: string }[] }>(
      `SELECT r.account_id, max(r.details->>'data_retention_until') AS data_retention_until
         FROM lifecycle_records r
        WHERE r.kind = 'status_change' AND r.subtype = 'closure' AND r.state IN ('applied', 'confirmed', 'closed')
          AND r.details->>'data_retention_until' IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.account_id = r.account_id AND e.type = 'privacy.erased' AND e.record_id IS NULL AND e.data->>'retention' = 'true')
        GROUP BY r.account_id
       HAVING max(r.details->>'data_retention_until') < ?
        ORDER BY r.account_id
        LIMIT ?`,
      [today, limit],
    );
    return rows;
  }

  async expiredRecords(cutoffs: Record<Kind, string>, finished: readonly string[], limit: number): Promise<{ id: string; account_id: string; kind: Kind }[]> {
    const kinds = Object.keys(cutoffs);
    const { rows } = await this.db.raw<{ rows: { id: string; account_id: string; kind: Kind }[] }>(
      `SELECT r.id, r.account_id, r.kind
         FROM lifecycle_records r JOIN unnest(?::text[], ?::timestamptz[]) AS c(kind, cutoff) ON c.kind = r.kind
        WHERE r.state = ANY(?) AND r.updated_at < c.cutoff
          AND NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.record_id = r.id AND e.type = 'privacy.erased')
        ORDER BY r.updated_at, r.id
        LIMIT ?`,
      [kinds, kinds.map((k) => cutoffs[k as Kind]), [...finished], limit],
    );
    return rows;
  }
}
