import type { Knex } from 'knex';
import type { Account } from '../records/accounts';
import type { BatchSummary, IncidentFilter } from '../records/incidents';
import type { ApproverSet, BatchStatus, IncidentBatch, IncidentBatchDecision, IncidentCreditLink, IncidentRepository, StoredIncident } from '../records/ports';
import { accountFromRow } from './mappers';
import type { AccountRow } from './mappers';

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

interface IncidentRow {
  id: string;
  reference: string;
  starts_at: Date;
  ends_at: Date;
  service: string;
  plans: string[];
  measured_uptime_percent: string | null;
  filters: IncidentFilter[];
  reason_code: string;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

export const incidentFromRow = (r: IncidentRow): StoredIncident => ({
  id: r.id,
  reference: r.reference,
  starts_at: iso(r.starts_at)!,
  ends_at: iso(r.ends_at)!,
  service: r.service,
  plans: r.plans,
  measured_uptime_percent: r.measured_uptime_percent === null ? null : Number(r.measured_uptime_percent),
  filters: r.filters,
  reason_code: r.reason_code,
  created_by: r.created_by,
  created_at: iso(r.created_at)!,
  updated_at: iso(r.updated_at)!,
});

interface BatchRow {
  id: string;
  incident_id: string;
  seq: number;
  status: BatchStatus;
  approvals_required: number;
  approvers: ApproverSet;
  summary: BatchSummary;
  requested_by: string;
  channel: string | null;
  message_ts: string | null;
  reason: string | null;
  created_at: Date;
  decided_at: Date | null;
}

export const batchFromRow = (r: BatchRow): IncidentBatch => ({
  id: r.id,
  incident_id: r.incident_id,
  seq: r.seq,
  status: r.status,
  approvals_required: r.approvals_required,
  approvers: r.approvers,
  summary: r.summary,
  requested_by: r.requested_by,
  channel: r.channel,
  message_ts: r.message_ts,
  reason: r.reason,
  created_at: iso(r.created_at)!,
  decided_at: iso(r.decided_at),
});

export class KnexIncidentRepository implements IncidentRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async upsertForUpdate(i: StoredIncident): Promise<StoredIncident> {
    await this.db('incidents')
      .insert({
        id: i.id,
        reference: i.reference,
        starts_at: i.starts_at,
        ends_at: i.ends_at,
        service: i.service,
        plans: JSON.stringify(i.plans),
        measured_uptime_percent: i.measured_uptime_percent,
        filters: JSON.stringify(i.filters),
        reason_code: i.reason_code,
        created_by: i.created_by,
        created_at: i.created_at,
        updated_at: i.updated_at,
      })
      .onConflict('reference')
      .ignore();
    const row = await this.db<IncidentRow>('incidents').where({ reference: i.reference }).forUpdate().first();
    return incidentFromRow(row!);
  }

  async get(id: string): Promise<StoredIncident | null> {
    const row = await this.db<IncidentRow>('incidents').where({ id }).first();
    return row ? incidentFromRow(row) : null;
  }

  async saveFilters(id: string, filters: readonly IncidentFilter[], at: string): Promise<void> {
    await this.db('incidents')
      .where({ id })
      .update({ filters: JSON.stringify(filters), updated_at: at });
  }

  async matchAccounts(filters: readonly IncidentFilter[], plans: readonly string[]): Promise<Account[]> {
    if (filters.length === 0) return [];
    const q = this.db<AccountRow>('accounts').where({ status: 'active' });
    if (plans.length) q.whereIn('plan_id', [...plans]);
    q.where((any) => {
      for (const f of filters) {
        any.orWhere((all) => {
          if (f.account_ids) {
            // A join against an array, not an IN list: an incident may name 100,000 accounts.
            all.whereRaw('id = ANY(?::text[])', [[...f.account_ids]]);
          }
          if (f.plans) all.whereIn('plan_id', [...f.plans]);
          if (f.tags) all.whereRaw('tags \\?| ?::text[]', [[...f.tags]]);
          if (!f.account_ids && !f.plans && !f.tags) all.whereRaw('false');
        });
      }
    });
    const rows = await q.orderBy('id');
    return rows.map(accountFromRow);
  }

  async creditedAccounts(incidentId: string): Promise<Set<string>> {
    const rows = await this.db('incident_credits').where({ incident_id: incidentId }).select<{ account_id: string }[]>('account_id');
    return new Set(rows.map((r) => r.account_id));
  }

  async addCredits(incidentId: string, links: readonly IncidentCreditLink[], at: string): Promise<void> {
    for (let i = 0; i < links.length; i += 1000) {
      await this.db('incident_credits').insert(
        links.slice(i, i + 1000).map((l) => ({
          incident_id: incidentId,
          account_id: l.account_id,
          record_id: l.record_id,
          batch_id: l.batch_id,
          flagged: l.flagged,
          created_at: at,
        })),
      );
    }
  }

  async nextBatchSeq(incidentId: string): Promise<number> {
    const row = await this.db('incident_batches').where({ incident_id: incidentId }).max<{ max: number | null }>('seq as max').first();
    return (row?.max ?? 0) + 1;
  }

  async createBatch(b: IncidentBatch): Promise<void> {
    await this.db('incident_batches').insert({
      id: b.id,
      incident_id: b.incident_id,
      seq: b.seq,
      status: b.status,
      approvals_required: b.approvals_required,
      approvers: JSON.stringify(b.approvers),
      summary: JSON.stringify(b.summary),
      requested_by: b.requested_by,
      channel: b.channel,
      message_ts: b.message_ts,
      reason: b.reason,
      created_at: b.created_at,
      decided_at: b.decided_at,
    });
  }

  async getBatch(id: string): Promise<IncidentBatch | null> {
    const row = await this.db<BatchRow>('incident_batches').where({ id }).first();
    return row ? batchFromRow(row) : null;
  }

  async getBatchForUpdate(id: string): Promise<IncidentBatch | null> {
    const row = await this.db<BatchRow>('incident_batches').where({ id }).forUpdate().first();
    return row ? batchFromRow(row) : null;
  }

  async batchCredits(batchId: string): Promise<IncidentCreditLink[]> {
    return this.db('incident_credits').where({ batch_id: batchId }).orderBy('account_id').select('account_id', 'record_id', 'batch_id', 'flagged');
  }

  async creditFor(incidentIdOrReference: string, accountId: string): Promise<IncidentCreditLink | null> {
    const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(incidentIdOrReference);
    const row = await this.db('incident_credits as c')
      .join('incidents as i', 'i.id', 'c.incident_id')
      .where(isUuid ? { 'i.id': incidentIdOrReference } : { 'i.reference': incidentIdOrReference })
      .andWhere('c.account_id', accountId)
      .first('c.account_id', 'c.record_id', 'c.batch_id', 'c.flagged');
    return (row as IncidentCreditLink | undefined) ?? null;
  }

  async decisions(batchId: string): Promise<IncidentBatchDecision[]> {
    const rows = await this.db('incident_batch_decisions').where({ batch_id: batchId }).orderBy('decided_at');
    return rows.map((r: { approver_id: string; decision: IncidentBatchDecision['decision']; reason: string | null; decided_at: Date }) => ({
      approver_id: r.approver_id,
      decision: r.decision,
      reason: r.reason,
      decided_at: iso(r.decided_at)!,
    }));
  }

  async addDecision(batchId: string, d: IncidentBatchDecision): Promise<void> {
    await this.db('incident_batch_decisions').insert({
      batch_id: batchId,
      approver_id: d.approver_id,
      decision: d.decision,
      reason: d.reason,
      decided_at: d.decided_at,
    });
  }

  async closeBatch(batchId: string, status: BatchStatus, reason: string | null, at: string): Promise<void> {
    await this.db('incident_batches').where({ id: batchId }).update({ status, reason, decided_at: at });
  }

  async setBatchMessage(batchId: string, channel: string, ts: string): Promise<void> {
    await this.db('incident_batches').where({ id: batchId }).update({ channel, message_ts: ts });
  }
}
