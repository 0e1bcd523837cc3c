import type { Knex } from 'knex';
import { AppError } from '../records/errors';
import type { LifecycleRecord } from '../records/kinds';
import type { RecordRepository } from '../records/ports';
import { recordFromRow, recordToRow } from './mappers';
import type { RecordRow } from './mappers';

export class KnexRecordRepository implements RecordRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async insert(record: LifecycleRecord): Promise<void> {
    await this.db('lifecycle_records').insert(recordToRow(record));
  }

  async update(record: LifecycleRecord, expectedVersion: number): Promise<void> {
    const { id: _id, created_at: _c, ...row } = recordToRow(record);
    const n = await this.db('lifecycle_records').where({ id: record.id, version: expectedVersion }).update(row);
    if (n === 1) return;
    const current = await this.db('lifecycle_records').where({ id: record.id }).first('version', 'state');
    if (!current) throw new AppError('not_found', `No lifecycle record ${record.id}`);
    throw new AppError(
      'conflict',
      `Record ${record.id} changed since it was read (expected version ${expectedVersion}, now ${current.version} in state ${current.state}); reload it and try again`,
      { details: { record_id: record.id, expected_version: expectedVersion, current_version: current.version }, retryable: true },
    );
  }

  async get(id: string): Promise<LifecycleRecord | null> {
    if (!isUuid(id)) return null;
    const row = await this.db<RecordRow>('lifecycle_records').where({ id }).first();
    return row ? recordFromRow(row) : null;
  }

  async getForUpdate(id: string): Promise<LifecycleRecord | null> {
    if (!isUuid(id)) return null;
    const row = await this.db<RecordRow>('lifecycle_records').where({ id }).forUpdate().first();
    return row ? recordFromRow(row) : null;
  }

  async liveReversalOf(id: string): Promise<LifecycleRecord | null> {
    if (!isUuid(id)) return null;
    const row = await this.db<RecordRow>('lifecycle_records').where({ reverses_record_id: id }).whereNotIn('state', ['rejected', 'cancelled']).first();
    return row ? recordFromRow(row) : null;
  }

  async lockMany(ids: readonly string[]): Promise<void> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return;
    // Sorted before the lock step, so the rows are locked in id order.
    await this.db.raw('SELECT id FROM lifecycle_records WHERE id = ANY(?::uuid[]) ORDER BY id FOR UPDATE', [valid]);
  }

  async insertMany(records: readonly LifecycleRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.db('lifecycle_records').insert(records.map(recordToRow));
  }

  async findLatestByTickets(ticketIds: readonly string[]): Promise<Map<string, LifecycleRecord>> {
    const out = new Map<string, LifecycleRecord>();
    if (ticketIds.length === 0) return out;
    const { rows } = await this.db.raw<{ rows: RecordRow[] }>(
      `SELECT DISTINCT ON (ticket_id) * FROM lifecycle_records
        WHERE ticket_id = ANY(?::text[]) AND reverses_record_id IS NULL
        ORDER BY ticket_id, created_at DESC, id DESC`,
      [[...ticketIds]],
    );
    for (const row of rows) out.set(row.ticket_id!, recordFromRow(row));
    return out;
  }

  async lockTickets(ticketIds: readonly string[]): Promise<void> {
    if (ticketIds.length === 0) return;
    const sorted = [...new Set(ticketIds)].sort();
    // unnest yields the array in order, so the locks are taken in sorted order.
    await this.db.raw("SELECT pg_advisory_xact_lock(hashtextextended('zendesk-ticket:' || t, 0)) FROM unnest(?::text[]) AS t", [sorted]);
  }
}

export const isUuid = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
