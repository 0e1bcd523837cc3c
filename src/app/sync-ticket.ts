import type { Helpdesk, TransactionRunner } from '../records/ports';
import { AppError, StatusRefusedError } from '../records/errors';
import { noteHash, ticketUpdateFor } from './ticket-view';
import type { FieldLabels } from './ticket-view';

const QUIET_STATES = ['applying', 'applied'];

export type SyncOutcome = 'synced' | 'tags_only' | 'skipped_stale' | 'no_ticket';

/**
 * Brings a ticket in line with its record's current state. Always syncs the newest version (a
 * job for an older version finding a newer one synced does nothing); the note is posted only
 * when its text differs from the last one posted, so a repeated draft never repeats its note.
 * The record's sync row stays locked while Zendesk is called, so two syncs of one record never
 * interleave. Zendesk comments cannot be edited, so an "updated" note is a new note.
 */
export async function syncTicket(
  deps: {
    store: TransactionRunner;
    helpdesk: Helpdesk;
    labels?: FieldLabels;
    /** Set the ticket to solved once the customer is confirmed. */
    solveOnConfirm?: boolean;
    /** Every reason code of the taxonomy: their tags are taken off when the record's reason is another. */
    reasonCodes?: readonly string[];
  },
  recordId: string,
): Promise<SyncOutcome> {
  return deps.store.transaction(async (uow) => {
    const record = await uow.records.get(recordId);
    if (!record) throw new AppError('not_found', `No lifecycle record ${recordId}`);
    if (!record.ticket_id) return 'no_ticket';
    const state = await uow.ticketSync.getForUpdate(recordId);
    if (state && state.synced_version >= record.version) return 'skipped_stale';
    const update = ticketUpdateFor(record, deps.labels, deps.reasonCodes);
    let hash = noteHash(update.internalNote);
    // Transient states update the tags only: the agent gets a note when something they care about changed.
    let postNote = state?.note_hash !== hash && !QUIET_STATES.includes(record.state);
    const tags = { addTags: update.addTags ?? [], removeTags: update.removeTags ?? [] };
    const solve = deps.solveOnConfirm && record.state === 'confirmed' ? { status: 'solved' as const } : {};
    try {
      await deps.helpdesk.updateTicket(record.ticket_id, postNote ? { ...update, ...solve } : { ...tags, ...solve });
    } catch (err) {
      if (!(err instanceof StatusRefusedError)) throw err;
      // The refused status took the note and tags down with it: send them without it, and tell the
      // agent the ticket is not solved and why.
      const note = `${update.internalNote}\n\nZendesk refused to set this ticket to ${err.status} (${err.why}); set it by hand once that is fixed.`;
      await deps.helpdesk.updateTicket(record.ticket_id, { ...tags, internalNote: note });
      hash = noteHash(note);
      postNote = true;
    }
    await uow.ticketSync.save({ record_id: record.id, ticket_id: record.ticket_id, synced_version: record.version, note_hash: postNote ? hash : (state?.note_hash ?? null), tags: update.addTags ?? [] });
    return postNote ? 'synced' : 'tags_only';
  });
}
