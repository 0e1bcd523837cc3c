import type { Actor } from '../records/actors';
import type { Problem } from '../records/errors';
import type { LifecycleRecord } from '../records/kinds';
import type { UnitOfWork } from '../records/ports';
import { canonicalJson } from '../records/audit';
import type { AppDeps } from './deps';
import { createRecordIn, evaluateRequest, recordFromEvaluation } from './create-record';
import { transitionIn } from './transition-record';
import { TOPICS } from './topics';
import { noteHash, problemLines } from './ticket-view';
import type { FieldLabels } from './ticket-view';
import { KINDS } from '../records/kinds';
import type { Kind } from '../records/kinds';

/** A ticket as it reaches the use-case: already verified, parsed and mapped by the integration. */
export interface TicketIntake {
  readonly source: 'zendesk';
  /** Unique per delivery (the sender's invocation id, or a hash of the body). */
  readonly deliveryKey: string;
  readonly ticketId: string;
  readonly ticketUpdatedAt: string | null;
  /** The mapped request, or null when the payload carried no field values and the ticket must be read from the API. */
  readonly mapped: MappedTicket | null;
}

export type MappedTicket =
  | { readonly relevant: false; readonly why: string }
  | { readonly relevant: true; readonly request: Record<string, unknown>; readonly mappingProblems: readonly Problem[] };

export type IngestStatus =
  | 'duplicate'
  | 'stale'
  | 'ignored'
  | 'fetch_queued'
  | 'needs_kind'
  | 'created'
  | 'revised'
  | 'submitted'
  | 'unchanged';

export interface IngestOutcome {
  readonly status: IngestStatus;
  readonly record?: LifecycleRecord;
}

/** The agent a ticket's request is attributed to. */
const agentOf = (request: Record<string, unknown>): Actor => {
  const by = request.requested_by;
  return { role: 'agent', id: typeof by === 'string' && by ? by.slice(0, 200) : 'zendesk' };
};

/** Fields of a draft that a revised ticket may change; comparing them decides whether anything changed. */
const REVISABLE = ['kind', 'subtype', 'account_id', 'requested_by', 'requester', 'reason_code', 'reason_text', 'effective', 'effective_at', 'details', 'amount', 'problems'] as const;

async function reviseDraft(uow: UnitOfWork, deps: AppDeps, draft: LifecycleRecord, mapped: Extract<MappedTicket, { relevant: true }>, now: Date): Promise<IngestOutcome> {
  const ev = await evaluateRequest(uow, deps, mapped.request, now, mapped.mappingProblems);
  const candidate = recordFromEvaluation(draft.id, mapped.request, ev, agentOf(mapped.request), now.toISOString());
  const patch: Record<string, unknown> = {};
  for (const f of REVISABLE) if (canonicalJson(candidate[f]) !== canonicalJson(draft[f])) patch[f] = candidate[f];
  const clean = candidate.state === 'submitted';
  if (!clean && Object.keys(patch).length === 0) return { status: 'unchanged', record: draft };
  const { record } = await transitionIn(uow, now, {
    recordId: draft.id,
    event: clean ? 'submit' : 'revise',
    actor: agentOf(mapped.request),
    expectedVersion: draft.version,
    reason: 'ticket updated',
    patch: patch as NonNullable<Parameters<typeof transitionIn>[2]['patch']>,
  });
  return { status: clean ? 'submitted' : 'revised', record };
}

/**
 * Turns one ticket delivery into a record change, exactly once: the delivery is claimed first
 * (a retry or replay stops there), deliveries of one ticket are serialised, an older ticket
 * version arriving late is ignored, and a ticket edited again revises its draft instead of
 * creating a second record. Everything commits in one transaction.
 */
export async function ingestTicket(deps: AppDeps & { labels?: FieldLabels }, intake: TicketIntake): Promise<IngestOutcome> {
  return deps.store.transaction(async (uow) => {
    const now = deps.clock.now();
    const claimed = await uow.deliveries.claim({
      source: intake.source,
      key: intake.deliveryKey,
      ticketId: intake.ticketId,
      ticketUpdatedAt: intake.ticketUpdatedAt,
    });
    if (!claimed) return { status: 'duplicate' };
    const done = async (o: IngestOutcome): Promise<IngestOutcome> => {
      await uow.deliveries.setOutcome(intake.source, intake.deliveryKey, o.status, o.record?.id ?? null);
      return o;
    };

    if (intake.mapped === null) {
      await uow.outbox.add([
        {
          topic: TOPICS.zendeskFetch,
          key: `zendesk-fetch.${intake.deliveryKey}`,
          payload: { ticket_id: intake.ticketId, delivery_key: intake.deliveryKey },
        },
      ]);
      return done({ status: 'fetch_queued' });
    }
    if (!intake.mapped.relevant) return done({ status: 'ignored' });

    await uow.records.lockTicket(intake.ticketId);
    if (intake.ticketUpdatedAt) {
      const newest = await uow.deliveries.newestTicketUpdate(intake.source, intake.ticketId);
      if (newest && Date.parse(newest) > Date.parse(intake.ticketUpdatedAt)) return done({ status: 'stale' });
    }
    const request: Record<string, unknown> = { ...intake.mapped.request, ticket_id: intake.ticketId };
    const mapped = { ...intake.mapped, request };
    const existing = await uow.records.findOpenByTicket(intake.ticketId);
    if (!existing && !KINDS.includes(request.kind as Kind)) {
      // Without a kind there is no record to keep a draft in; tell the agent on the ticket instead.
      const problems: Problem[] = [
        { field: 'kind', message: `choose the request type (${KINDS.join(', ')})` },
        ...mapped.mappingProblems,
      ];
      const body = ['Lifecycle Desk cannot file this request yet. Please fix these ticket fields:', ...problemLines(problems, deps.labels)].join('\n');
      await uow.outbox.add([
        {
          topic: TOPICS.zendeskNote,
          // The same advice is posted once per ticket however often the ticket changes.
          key: `zendesk-note.${intake.ticketId}.${noteHash(body).slice(0, 16)}`,
          payload: { ticket_id: intake.ticketId, note: body },
        },
      ]);
      return done({ status: 'needs_kind' });
    }
    if (!existing) {
      const { record } = await createRecordIn(
        uow,
        deps,
        { request, actor: agentOf(request), onProblems: 'draft', extraProblems: mapped.mappingProblems },
        now,
      );
      return done({ status: 'created', record });
    }
    if (existing.state !== 'draft') return done({ status: 'unchanged', record: existing });
    return done(await reviseDraft(uow, deps, existing, mapped, now));
  });
}
