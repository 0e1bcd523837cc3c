import type { LifecycleRecord, State } from '../records/kinds';
import type { OutboxMessage } from '../records/ports';
import { TOPICS } from './topics';

/**
 * The side effects a committed record change causes, as outbox messages written in the same
 * transaction. Keys name the record and version, so a replayed change is stored once.
 */
export function followUpsOf(record: LifecycleRecord, _previous: State | null): OutboxMessage[] {
  const out: OutboxMessage[] = [];
  if (record.ticket_id) {
    out.push({
      topic: TOPICS.zendeskSync,
      key: `zendesk-sync.${record.id}.v${record.version}`,
      payload: { record_id: record.id, version: record.version },
    });
  }
  return out;
}
