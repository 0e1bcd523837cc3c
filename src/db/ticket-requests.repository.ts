import type { Knex } from 'knex';
import type { TicketRequestRepository, TicketRequestState } from '../records/ports';

export class KnexTicketRequestRepository implements TicketRequestRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async getMany(source: string, ticketIds: readonly string[]): Promise<Map<string, TicketRequestState>> {
    const out = new Map<string, TicketRequestState>();
    if (ticketIds.length === 0) return out;
    const rows: { ticket_id: string; fingerprint: string; rerequest: boolean }[] = await this.db('ticket_requests')
      .where({ source })
      .whereIn('ticket_id', [...new Set(ticketIds)])
      .select('ticket_id', 'fingerprint', 'rerequest');
    for (const r of rows) out.set(r.ticket_id, { source, ticket_id: r.ticket_id, fingerprint: r.fingerprint, rerequest: r.rerequest });
    return out;
  }

  async saveMany(states: readonly TicketRequestState[]): Promise<void> {
    if (states.length === 0) return;
    await this.db('ticket_requests')
      .insert(
        states.map((s) => ({ source: s.source, ticket_id: s.ticket_id, fingerprint: s.fingerprint, rerequest: s.rerequest, updated_at: this.db.fn.now() })),
      )
      .onConflict(['source', 'ticket_id'])
      .merge(['fingerprint', 'rerequest', 'updated_at']);
  }
}
