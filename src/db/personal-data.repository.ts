import type { Knex } from 'knex';
import type { AuditEvent } from '../records/audit';
import { ERASED, personalRefs, resolvePersonalData } from '../records/personal-data';

/**
 * Reads of the audit trail for people (the API, the sidebar, emails) show the personal values its
 * references point at, or "[erased]"; `audit export` and `audit verify` read the events as stored.
 */
export async function resolveEvents(db: Knex | Knex.Transaction, events: AuditEvent[]): Promise<AuditEvent[]> {
  const ids = new Set<string>();
  for (const e of events) personalRefs(e.data, ids);
  if (ids.size === 0) return events;
  const rows = (await db('personal_data')
    .whereIn('id', [...ids])
    .select('id', 'value')) as { id: string; value: string | null }[];
  const values = new Map(rows.map((r) => [r.id, r.value ?? ERASED]));
  return events.map((e) => (personalRefs(e.data).size ? { ...e, data: resolvePersonalData(e.data, (id) => values.get(id) ?? ERASED) } : e));
}
