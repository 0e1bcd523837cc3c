import type { Knex } from 'knex';
import type { ErasureCounts, PrivacyStore } from '../app/privacy';
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
      const account = (await trx('accounts').where({ id: accountId }).forUpdate().first('id', 'name', 'contacts')) as { id: string; name: string; contacts: string[] } | undefined;
      if (!account) return null;
      const at = new Date(input.at);
      const personal = await trx('personal_data').where({ account_id: accountId }).whereNull('erased_at').update({ value: null, erased_at: at, erased_by: input.by });
      const accountChanged = account.name !== ERASED || account.contacts.length > 0;
      if (accountChanged) await trx('accounts').where({ id: accountId }).update({ name: ERASED, contacts: JSON.stringify([]) });

      const rows = (await trx('lifecycle_records').where({ account_id: accountId }).forUpdate().select('id', 'requester', 'reason_text', 'details', 'problems')) as {
        id: string;
        requester: unknown;
        reason_text: string;
        details: Record<string, unknown>;
        problems: unknown[];
      }[];
      let records = 0;
      for (const r of rows) {
        const patch = { requester: null, reason_text: r.reason_text ? ERASED : '', details: eraseFreeText(r.details), problems: eraseFreeText(r.problems) };
        if (r.requester === null && same(patch.reason_text, r.reason_text) && same(patch.details, r.details) && same(patch.problems, r.problems)) continue;
        // The records' guard lets this through only as an erasure: same version and state, values blanked.
        await trx('lifecycle_records')
          .where({ id: r.id })
          .update({ requester: null, reason_text: patch.reason_text, details: JSON.stringify(patch.details), problems: JSON.stringify(patch.problems) });
        records += 1;
      }
      const ids = rows.map((r) => r.id);
      const decisions = ids.length ? await trx('approval_decisions').whereIn('record_id', ids).whereNotNull('reason').whereNot('reason', ERASED).update({ reason: ERASED }) : 0;
      const emails = ids.length ? await trx('email_deliveries').whereIn('record_id', ids).whereNotNull('subject').whereNot('subject', ERASED).update({ subject: ERASED }) : 0;
      // Job errors may quote an address or a provider's answer about it.
      if (ids.length) await trx('outbox').whereRaw("payload->>'record_id' = ANY(?)", [ids]).whereNotNull('last_error').update({ last_error: null });

      const counts: ErasureCounts = { personal_values: personal, records, decisions, emails, account: accountChanged };
      await new KnexAuditAppender(trx).append([
        {
          account_id: accountId,
          record_id: null,
          type: 'privacy.erased',
          actor: input.kind === 'retention' ? { role: 'system', id: input.by } : { role: 'supervisor', id: input.by },
          occurred_at: input.at,
          // The request's reason is free text (kept in the side table, so a later erasure covers it too).
          data: { reason: input.reason, erased: { ...counts }, ...(input.kind === 'retention' ? { retention: true } : {}) },
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
      this.db('personal_data').where({ account_id: accountId }).orderBy([{ column: 'created_at' }, { column: 'id' }]).select('id', 'kind', 'value', 'created_at', 'erased_at', 'erased_by'),
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
