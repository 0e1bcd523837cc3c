import { AppError } from '../records/errors';
import type { Clock } from '../records/ports';

/**
 * Data-subject requests: erase an account's personal data, or export it. Personal values live in
 * the `personal_data` side table (the audit trail holds references), and copies the service works
 * from (the account's contacts and name, records' requester, free-text reason and details,
 * decisions' reasons, email subjects, job errors) are blanked in the same transaction, which also
 * appends `privacy.erased` to the account's chain. `audit verify` stays at exit 0: no hashed event
 * changes.
 */

export interface ErasureCounts {
  readonly personal_values: number;
  readonly records: number;
  readonly decisions: number;
  readonly emails: number;
  readonly account: boolean;
  /** Events written before personal data left the chain whose personal values were blanked in place. */
  readonly legacy_events: number;
}

export interface PrivacyStore {
  /** Blanks everything personal of the account and appends the `privacy.erased` event; null when the account is unknown. */
  erase(accountId: string, input: { by: string; reason: string; at: string; kind?: 'request' | 'retention' }): Promise<ErasureCounts | null>;
  /** Blanks one record's personal data (the retention purge); appends `privacy.erased` with its record id. */
  eraseRecord(recordId: string, input: { by: string; reason: string; at: string }): Promise<ErasureCounts | null>;
  /** The account's personal data as stored (for a data-subject access request); null when unknown. */
  export(accountId: string, at: string): Promise<Record<string, unknown> | null>;
}

/** Queues whose finished jobs might keep a trace of a record (errors quote what failed). */
export interface JobTraces {
  /** Removes finished (completed or failed) jobs about these records; returns how many. */
  removeFor(recordIds: readonly string[]): Promise<number>;
}

export async function eraseAccount(
  deps: { privacy: PrivacyStore; clock: Clock },
  input: { accountId: string; by: string; reason: string },
): Promise<ErasureCounts> {
  const by = input.by.trim();
  const reason = input.reason.trim();
  if (!by) throw new AppError('validation_failed', '--by: name who asks for the erasure (recorded in the audit trail)');
  if (!reason) throw new AppError('validation_failed', '--reason: say why (a request reference, "retention"…); it is recorded in the audit trail');
  const counts = await deps.privacy.erase(input.accountId, { by: by.slice(0, 200), reason: reason.slice(0, 2000), at: deps.clock.now().toISOString() });
  if (!counts) throw new AppError('not_found', `No account ${input.accountId}`);
  return counts;
}

export async function exportAccount(deps: { privacy: PrivacyStore; clock: Clock }, accountId: string): Promise<Record<string, unknown>> {
  const out = await deps.privacy.export(accountId, deps.clock.now().toISOString());
  if (!out) throw new AppError('not_found', `No account ${accountId}`);
  return out;
}
