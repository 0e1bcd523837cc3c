import type { LifecycleRecord } from '../records/kinds';
import type { OutboxMessage } from '../records/ports';

/**
 * Every committed change of a record's state publishes one `record.changed` message; the job
 * relay fans it out (ticket sync, approvals, billing, email). Keyed by record and version, so a
 * replayed change is stored once.
 */
export const RECORD_CHANGED = 'record.changed';

export function recordChangedMessage(record: LifecycleRecord, previousState: LifecycleRecord['state'] | null): OutboxMessage {
  return {
    topic: RECORD_CHANGED,
    key: `record:${record.id}:v${record.version}`,
    payload: { record_id: record.id, version: record.version, state: record.state, previous_state: previousState },
  };
}
