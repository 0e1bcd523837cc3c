import type { Problem } from '../records/errors';
import type { TransactionRunner } from '../records/ports';
import { noteHash, problemLines } from './ticket-view';
import type { FieldLabels } from './ticket-view';
import { TOPICS } from './topics';

/**
 * Tells the agent on a ticket why its request could not be filed at all (no record holds a
 * draft to show it): an internal note through the outbox, once per ticket and text however often
 * the same delivery comes back.
 */
export async function noteUnfileableTicket(
  deps: { store: TransactionRunner },
  ticketId: string,
  problems: readonly Problem[],
  labels?: FieldLabels,
): Promise<void> {
  const note = ['Lifecycle Desk cannot file this request: some ticket fields hold values it cannot store. Please fix:', ...problemLines(problems, labels)].join(
    '\n',
  );
  await deps.store.transaction((uow) =>
    uow.outbox.add([{ topic: TOPICS.zendeskNote, key: `zendesk-note.${ticketId}.${noteHash(note).slice(0, 16)}`, payload: { ticket_id: ticketId, note } }]),
  );
}
