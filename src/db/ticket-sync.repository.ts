import type { Knex } from 'knex';
import type { TicketSyncRepository, TicketSyncState } from '../records/ports';

export class KnexTicketSyncRepository implements TicketSyncRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async getForUpdate(recordId: string): Promise<TicketSyncState | null> {
    // Make sure a row exists to lock, so two first syncs of one record also serialise.
    await this.db.raw(
      `INSERT INTO zendesk_sync_state (record_id, ticket_id, synced_version)
       SELECT id, ticket_id, 0 FROM lifecycle_records WHERE id = ? AND ticket_id IS NOT NULL
       ON CONFLICT (record_id) DO NOTHING`,
      [recordId],
    );
    const row = await this.db('zendesk_sync_state').where({ record_id: recordId }).forUpdate().first();
    return row ? { record_id: row.record_id, ticket_id: row.ticket_id, synced_version: row.synced_version, note_hash: row.note_hash } : null;
  }

  async save(s: TicketSyncState & { tags: readonly string[] }): Promise<void> {
    await this.db('zendesk_sync_state')
      .insert({ ...s, tags: JSON.stringify(s.tags), updated_at: this.db.fn.now() })
      .onConflict('record_id')
      .merge();
  }
}
