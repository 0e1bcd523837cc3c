import type { Knex } from 'knex';
import type { TicketSyncRepository, TicketSyncState } from '../records/ports';

export class KnexTicketSyncRepository implements TicketSyncRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async get(recordId: string): Promise<TicketSyncState | null> {
    const row = await this.db('zendesk_sync_state').where({ record_id: recordId }).first();
    return row ? { record_id: row.record_id, ticket_id: row.ticket_id, synced_version: row.synced_version, note_hash: row.note_hash } : null;
  }

  async saveIfNewer(s: TicketSyncState & { tags: readonly string[] }): Promise<boolean> {
    const res = await this.db.raw(
      `INSERT INTO zendesk_sync_state (record_id, ticket_id, synced_version, note_hash, tags, updated_at)
       VALUES (?, ?, ?, ?, ?::jsonb, now())
       ON CONFLICT (record_id) DO UPDATE SET ticket_id = excluded.ticket_id, synced_version = excluded.synced_version,
         note_hash = excluded.note_hash, tags = excluded.tags, updated_at = excluded.updated_at
       WHERE zendesk_sync_state.synced_version < excluded.synced_version`,
      [s.record_id, s.ticket_id, s.synced_version, s.note_hash, JSON.stringify(s.tags)],
    );
    return (res as { rowCount: number }).rowCount > 0;
  }
}
