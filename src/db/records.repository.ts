import type { Knex } from 'knex';
import { AppError } from '../records/errors';
import type { LifecycleRecord, State } from '../records/kinds';
import { TERMINAL_STATES } from '../records/state-machine';
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

  async findOpenByTicket(ticketId: string): Promise<LifecycleRecord | null> {
    const row = await this.db<RecordRow>('lifecycle_records')
      .where({ ticket_id: ticketId })
      .whereNotIn('state', TERMINAL_STATES as State[])
      .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }])
      .first();
    return row ? recordFromRow(row) : null;
  }

  async lockTicket(ticketId: string): Promise<void> {
    await this.db.raw("SELECT pg_advisory_xact_lock(hashtextextended('zendesk-ticket:' || ?, 0))", [ticketId]);
  }
}

export const isUuid = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
