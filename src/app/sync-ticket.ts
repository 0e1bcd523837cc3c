import type { Helpdesk, TransactionRunner } from '../records/ports';
import { AppError, StatusRefusedError } from '../records/errors';
import { noteHash, ticketUpdateFor } from './ticket-view';
import type { FieldLabels } from './ticket-view';

const QUIET_STATES = ['applying', 'applied'];

/**
 * States the service itself moves a record out of within moments (the policy, billing and the
 * customer email run right after): a sync that finds one waits for the record to settle.
 */
const PASSING_STATES = ['submitted', 'approved', 'applying', 'applied'];

export type SyncOutcome = 'synced' | 'tags_only' | 'skipped_stale' | 'no_ticket' | 'deferred';

export interface SyncDeps {
  store: TransactionRunner;
  helpdesk: Helpdesk;
  labels?: FieldLabels;
  /** Set the ticket to solved once the customer is confirmed. */
  solveOnConfirm?: boolean;
  /** Every reason code of the taxonomy: their tags are taken off when the record's reason is another. */
  reasonCodes?: readonly string[];
}

export interface SyncRun {
  readonly outcome: SyncOutcome;
  /** The record moved on while Zendesk was being called: the sync must run again (the job re-arms itself). */
  readonly behind: boolean;
}

/**
 * Brings a ticket in line with its record's current state: read, call Zendesk, then write
 * conditionally — no transaction is open while Zendesk is called (a 429 storm or a slow Zendesk
 * holds no database connection). One sync job per record at a time (its job id is the record's),
 * so two syncs of one record do not interleave; should they ever (a stalled job taken over), the
 * sync state is only moved forward (`saveIfNewer`) and the note is posted only when its text
 * differs from the last one posted. The last transaction also completes every open sync row of
 * the record up to the synced version: one sync stands for all the versions queued meanwhile.
 * With `settleMs`, a record in a passing state (submitted, approved, applying, applied) that
 * changed less than `settleMs` ago is not synced yet ('deferred'): the job runs again shortly.
 * Zendesk comments cannot be edited, so an "updated" note is a new note.
 */
export async function syncTicketRun(deps: SyncDeps, recordId: string, opts: { settleMs?: number; now?: Date } = {}): Promise<SyncRun> {
  const read = await deps.store.transaction(async (uow) => {
    const record = await uow.records.get(recordId);
    if (!record) throw new AppError('not_found', `No lifecycle record ${recordId}`, { retryable: false });
    const state = record.ticket_id ? await uow.ticketSync.get(recordId) : null;
    if (!record.ticket_id || (state && state.synced_version >= record.version)) {
      await uow.outbox.completeTicketSyncs(recordId, record.version);
      return { done: true as const, outcome: (record.ticket_id ? 'skipped_stale' : 'no_ticket') as SyncOutcome };
    }
    // A record passing through a state is synced once it settles (one ticket update instead of
    // one per step), or once it has sat there `settleMs`, whichever comes first.
    if (opts.settleMs && PASSING_STATES.includes(record.state) && Date.parse(record.updated_at) + opts.settleMs > (opts.now ?? new Date()).getTime()) {
      return { done: true as const, outcome: 'deferred' as SyncOutcome };
    }
    return { done: false as const, record, ticketId: record.ticket_id, state };
  });
  if (read.done) return { outcome: read.outcome, behind: read.outcome === 'deferred' };

  const { record, ticketId, state } = read;
  const update = ticketUpdateFor(record, deps.labels, deps.reasonCodes);
  let hash = noteHash(update.internalNote);
  // Transient states update the tags only: the agent gets a note when something they care about changed.
  let postNote = state?.note_hash !== hash && !QUIET_STATES.includes(record.state);
  const tags = { addTags: update.addTags ?? [], removeTags: update.removeTags ?? [] };
  const solve = deps.solveOnConfirm && record.state === 'confirmed' ? { status: 'solved' as const } : {};
  try {
    await deps.helpdesk.updateTicket(ticketId, postNote ? { ...update, ...solve } : { ...tags, ...solve });
  } catch (err) {
    if (!(err instanceof StatusRefusedError)) throw err;
    // The refused status took the note and tags down with it: send them without it, and tell the
    // agent the ticket is not solved and why.
    const note = `${update.internalNote}\n\nZendesk refused to set this ticket to ${err.status} (${err.why}); set it by hand once that is fixed.`;
    await deps.helpdesk.updateTicket(ticketId, { ...tags, internalNote: note });
    hash = noteHash(note);
    postNote = true;
  }

  return deps.store.transaction(async (uow) => {
    await uow.ticketSync.saveIfNewer({
      record_id: record.id,
      ticket_id: ticketId,
      synced_version: record.version,
      note_hash: postNote ? hash : (state?.note_hash ?? null),
      tags: update.addTags ?? [],
    });
    await uow.outbox.completeTicketSyncs(recordId, record.version);
    const now = await uow.records.get(recordId);
    const outcome: SyncOutcome = postNote ? 'synced' : 'tags_only';
    return { outcome, behind: !!now && now.version > record.version };
  });
}

/** One sync of the record's ticket (see syncTicketRun); what it did. */
export async function syncTicket(deps: SyncDeps, recordId: string): Promise<SyncOutcome> {
  return (await syncTicketRun(deps, recordId)).outcome;
}
