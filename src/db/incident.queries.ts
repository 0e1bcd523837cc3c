import type { Knex } from 'knex';
import type { IncidentBatch, StoredIncident } from '../records/ports';
import { KnexIncidentRepository, batchFromRow } from './incidents.repository';

/** Record states an incident's credits are counted in. */
export type StateCounts = Record<string, number>;

export interface IncidentStatus {
  readonly incident: StoredIncident;
  /** Credits of the incident per record state, over all its batches. */
  readonly counts: StateCounts;
  readonly total: number;
  readonly batches: readonly (IncidentBatch & {
    readonly counts: StateCounts;
    readonly decisions: readonly { approver_id: string; decision: string; decided_at: string }[];
  })[];
  /** Credits whose application failed (each can be retried on its own), the first 100. */
  readonly failed: readonly { readonly account_id: string; readonly record_id: string }[];
}

/** Counts by record state of a batch's credits (one grouped query over the batch index). */
export async function batchCounts(db: Knex, batchId: string): Promise<StateCounts> {
  const rows = await db('incident_credits as c')
    .join('lifecycle_records as r', 'r.id', 'c.record_id')
    .where('c.batch_id', batchId)
    .groupBy('r.state')
    .select<{ state: string; n: string }[]>('r.state', db.raw('count(*) as n'));
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

/** GET /api/incidents/:id (by id or reference): the incident, its credits counted by state, per batch and in all. */
export async function incidentStatus(db: Knex, idOrReference: string): Promise<IncidentStatus | null> {
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrReference);
  const row = await db('incidents')
    .where(isUuid ? { id: idOrReference } : { reference: idOrReference })
    .first('id');
  if (!row) return null;
  const incident = (await new KnexIncidentRepository(db).get(row.id as string))!;
  const batchRows = await db('incident_batches').where({ incident_id: incident.id }).orderBy('seq');
  const decisions = await db('incident_batch_decisions')
    .whereIn(
      'batch_id',
      batchRows.map((b: { id: string }) => b.id),
    )
    .orderBy('decided_at');
  const batches = [];
  const counts: StateCounts = {};
  for (const b of batchRows) {
    const c = await batchCounts(db, b.id as string);
    for (const [state, n] of Object.entries(c)) counts[state] = (counts[state] ?? 0) + n;
    batches.push({
      ...batchFromRow(b),
      counts: c,
      decisions: decisions
        .filter((d: { batch_id: string }) => d.batch_id === b.id)
        .map((d: { approver_id: string; decision: string; decided_at: Date }) => ({
          approver_id: d.approver_id,
          decision: d.decision,
          decided_at: d.decided_at.toISOString(),
        })),
    });
  }
  const failed = await db('incident_credits as c')
    .join('lifecycle_records as r', 'r.id', 'c.record_id')
    .where({ 'c.incident_id': incident.id, 'r.state': 'failed' })
    .orderBy('c.account_id')
    .limit(100)
    .select<{ account_id: string; record_id: string }[]>('c.account_id', 'c.record_id');
  return { incident, counts, total: Object.values(counts).reduce((a, b) => a + b, 0), batches, failed };
}

export interface IncidentListItem {
  readonly id: string;
  readonly reference: string;
  readonly service: string;
  readonly starts_at: string;
  readonly ends_at: string;
  readonly created_at: string;
  readonly total: number;
  readonly counts: StateCounts;
  /** Credits of every batch, summed per currency. */
  readonly totals: readonly { amount_minor: number; currency: string }[];
  readonly batches: number;
  readonly pending_batches: number;
}

/** GET /api/incidents: the newest incidents with their credits counted by state (the dashboard's card). */
export async function listIncidents(db: Knex, limit = 20): Promise<IncidentListItem[]> {
  const rows = await db('incidents').orderBy('created_at', 'desc').limit(limit);
  if (rows.length === 0) return [];
  const ids = rows.map((r: { id: string }) => r.id);
  const counts = await db('incident_credits as c')
    .join('lifecycle_records as r', 'r.id', 'c.record_id')
    .whereIn('c.incident_id', ids)
    .groupBy('c.incident_id', 'r.state')
    .select<{ incident_id: string; state: string; n: string }[]>('c.incident_id', 'r.state', db.raw('count(*) as n'));
  const batches = await db('incident_batches')
    .whereIn('incident_id', ids)
    .select<{ incident_id: string; status: string; summary: { totals: { amount_minor: number; currency: string }[] } }[]>('incident_id', 'status', 'summary');
  return rows.map((r: { id: string; reference: string; service: string; starts_at: Date; ends_at: Date; created_at: Date }) => {
    const c: StateCounts = {};
    for (const x of counts.filter((x) => x.incident_id === r.id)) c[x.state] = Number(x.n);
    const mine = batches.filter((b) => b.incident_id === r.id);
    const totals = new Map<string, number>();
    for (const b of mine) for (const t of b.summary.totals) totals.set(t.currency, (totals.get(t.currency) ?? 0) + t.amount_minor);
    return {
      id: r.id,
      reference: r.reference,
      service: r.service,
      starts_at: r.starts_at.toISOString(),
      ends_at: r.ends_at.toISOString(),
      created_at: r.created_at.toISOString(),
      total: Object.values(c).reduce((a, b) => a + b, 0),
      counts: c,
      totals: [...totals.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([currency, amount_minor]) => ({ amount_minor, currency })),
      batches: mine.length,
      pending_batches: mine.filter((b) => b.status === 'pending').length,
    };
  });
}
