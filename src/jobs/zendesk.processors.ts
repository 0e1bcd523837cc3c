import { z } from 'zod';
import { TOPICS } from '../app/topics';
import type { Topic } from '../app/topics';
import { ingestTicket } from '../app/ingest-ticket';
import { syncTicketRun } from '../app/sync-ticket';
import type { AppDeps } from '../app/deps';
import type { FieldLabels } from '../app/ticket-view';
import type { FieldMap } from '../integrations/zendesk/field-map';
import { intakeOf } from '../integrations/zendesk/inbound';
import type { ZendeskClient } from '../integrations/zendesk/zendesk.client';
import { allReasonCodes } from '../records/reasons';
import { RecordPayload, parsePayload } from './processors';
import type { Processor } from './worker';

const FetchPayload = z.object({ ticket_id: z.string().regex(/^\d+$/), delivery_key: z.string().min(1) });
/** `tags` defaults to the needs-info tag of the missing-request-type advice (rows queued before tags existed). */
const NotePayload = z.object({
  ticket_id: z.string().regex(/^\d+$/),
  note: z.string().min(1),
  tags: z.array(z.string().min(1)).default(['lifecycle_needs_info']),
});

export interface ZendeskProcessorDeps {
  readonly app: AppDeps;
  readonly client: Pick<ZendeskClient, 'getTicket' | 'updateTicket'>;
  readonly fieldMap: FieldMap;
  readonly labels: FieldLabels;
  readonly solveOnConfirm: boolean;
  /** How long a re-armed sync waits (the same debounce as a new one). */
  readonly syncDelayMs?: number;
  /** A record in a passing state is synced once it settles or after this long there (0: at once). */
  readonly syncSettleMs?: number;
}

/** Reading tickets that event webhooks only named, and keeping tickets in line with their records. */
export function zendeskProcessors(deps: ZendeskProcessorDeps): Partial<Record<Topic, Processor>> {
  let codes: string[] | null = null;
  const reasonCodes = () => (codes ??= deps.app.reasons ? allReasonCodes(deps.app.reasons) : []);
  return {
    [TOPICS.zendeskFetch]: async (payload, ctx) => {
      const { ticket_id, delivery_key } = parsePayload(FetchPayload, payload, TOPICS.zendeskFetch);
      const ticket = await deps.client.getTicket(ticket_id);
      const intake = intakeOf({ deliveryKey: `fetched-${delivery_key}`, ticketId: ticket_id, ticket, needsFetch: false, eventType: 'fetch' }, deps.fieldMap);
      const outcome = await ingestTicket({ ...deps.app, labels: deps.labels }, intake);
      ctx.logger.info({ ticket_id, status: outcome.status }, 'ticket read from Zendesk and ingested');
    },
    [TOPICS.zendeskSync]: async (payload, ctx) => {
      const { record_id } = parsePayload(RecordPayload, payload, TOPICS.zendeskSync);
      const run = await syncTicketRun(
        { store: deps.app.store, helpdesk: deps.client, labels: deps.labels, solveOnConfirm: deps.solveOnConfirm, reasonCodes: reasonCodes() },
        record_id,
        { settleMs: deps.syncSettleMs ?? 0, now: deps.app.clock.now() },
      );
      ctx.logger.debug({ record_id, outcome: run.outcome, behind: run.behind }, 'ticket synced');
      // The record moved on while Zendesk was called (a change queued meanwhile found this job
      // running and added nothing), or is still passing through a state: this job runs again (its id stays the record's).
      if (run.behind) await ctx.rearm(Math.max(deps.syncDelayMs ?? 0, run.outcome === 'deferred' ? 250 : 0));
      return 'completed';
    },
    [TOPICS.zendeskNote]: async (payload) => {
      const { ticket_id, note, tags } = parsePayload(NotePayload, payload, TOPICS.zendeskNote);
      await deps.client.updateTicket(ticket_id, { internalNote: note, addTags: tags });
    },
  };
}
