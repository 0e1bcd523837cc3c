import { createHash } from 'node:crypto';
import type { Actor } from '../records/actors';
import type { Problem } from '../records/errors';
import type { LifecycleRecord } from '../records/kinds';
import type { DeliveryOutcome, OutboxMessage, TicketRequestState, UnitOfWork } from '../records/ports';
import { canonicalJson } from '../records/audit';
import type { AppDeps } from './deps';
import { accountIdOf, createRecordsIn, evaluateRequest, preloadedAccounts, recordFromEvaluation, revisionPatch } from './create-record';
import type { AccountLookup, CreateRecordInput } from './create-record';
import { transitionIn } from './transition-record';
import { TOPICS } from './topics';
import { noteHash, problemLines, REREQUEST_TAG, stateWords } from './ticket-view';
import type { FieldLabels } from './ticket-view';
import { KINDS } from '../records/kinds';
import type { Kind, State } from '../records/kinds';
import { TERMINAL_STATES } from '../records/state-machine';

/** A ticket as it reaches the use-case: already verified, parsed and mapped by the integration. */
export interface TicketIntake {
  readonly source: 'zendesk';
  /** Unique per delivery (the sender's invocation id, or a hash of the body). */
  readonly deliveryKey: string;
  /** A hash of what the signature covers: a signed delivery resent under a new delivery key still counts as a replay. */
  readonly signedKey?: string;
  readonly ticketId: string;
  readonly ticketUpdatedAt: string | null;
  /** The mapped request, or null when the payload carried no field values and the ticket must be read from the API. */
  readonly mapped: MappedTicket | null;
}

export type MappedTicket =
  | { readonly relevant: false; readonly why: string }
  | {
      readonly relevant: true;
      readonly request: Record<string, unknown>;
      readonly mappingProblems: readonly Problem[];
      /** The ticket carries the re-request tag (`REREQUEST_TAG`): file its request again once the last record is finished. */
      readonly rerequest?: boolean;
    };

export type IngestStatus =
  | 'duplicate'
  | 'stale'
  | 'ignored'
  | 'fetch_queued'
  | 'needs_kind'
  | 'created'
  | 'revised'
  | 'submitted'
  | 'unchanged'
  /** The ticket asks for something else while its record is on its way: not applied, the agent is told. */
  | 'in_progress';

export interface IngestOutcome {
  readonly status: IngestStatus;
  readonly record?: LifecycleRecord;
}

/** The agent a ticket's request is attributed to. */
const agentOf = (request: Record<string, unknown>): Actor => {
  const by = request.requested_by;
  return { role: 'agent', id: typeof by === 'string' && by ? by.slice(0, 200) : 'zendesk' };
};

/**
 * States in which a record is finished as far as its ticket goes: a changed request (or a
 * re-request) on the ticket files a new record. Before that, the record is still on its way and
 * the ticket's fields no longer steer it.
 */
const SETTLED: readonly State[] = [...TERMINAL_STATES, 'confirmed'];

/**
 * What a ticket asks for, as a fingerprint: the mapped request fields (and the values that could
 * not be read, which only the problems name). Who asks is left out: Zendesk assigns a ticket to
 * the agent who replies, and that is not a new request.
 */
export function requestFingerprint(mapped: Extract<MappedTicket, { relevant: true }>): string {
  const r = mapped.request;
  return createHash('sha256')
    .update(
      canonicalJson({
        kind: r.kind ?? null,
        subtype: r.subtype ?? null,
        account_id: r.account_id ?? null,
        reason_code: r.reason_code ?? null,
        reason_text: r.reason_text ?? null,
        effective: r.effective ?? null,
        details: r.details ?? null,
        unreadable: mapped.mappingProblems.map((p) => `${p.field}: ${p.message}`).sort(),
      }),
    )
    .digest('hex');
}

/**
 * A ticket delivery for a draft. When the request changed, the draft is evaluated afresh ("now"
 * resolves again) and revised, or submitted once clean. When it did not (a trigger echo of the
 * service's own note, an agent's reply), the record is left alone: nothing is re-resolved, so
 * nothing changes and the ticket is not updated again. The one exception is a draft that has
 * become clean without the ticket changing (its account was imported since): it is submitted.
 */
async function reviseDraft(
  uow: UnitOfWork,
  deps: AppDeps,
  draft: LifecycleRecord,
  mapped: Extract<MappedTicket, { relevant: true }>,
  changed: boolean,
  now: Date,
  accounts: AccountLookup,
): Promise<IngestOutcome> {
  const ev = await evaluateRequest(uow, deps, mapped.request, now, mapped.mappingProblems, accounts);
  const candidate = recordFromEvaluation(draft.id, mapped.request, ev, agentOf(mapped.request), now.toISOString());
  const clean = candidate.state === 'submitted';
  if (!changed && !clean) return { status: 'unchanged', record: draft };
  const patch = revisionPatch(draft, candidate);
  if (!clean && Object.keys(patch).length === 0) return { status: 'unchanged', record: draft };
  const { record } = await transitionIn(uow, now, {
    recordId: draft.id,
    event: clean ? 'submit' : 'revise',
    actor: agentOf(mapped.request),
    expectedVersion: draft.version,
    reason: 'ticket updated',
    patch,
  });
  return { status: clean ? 'submitted' : 'revised', record };
}

/**
 * The advice posted when a ticket asks for something new while its record is still on its way
 * (once per record and distinct request): the record is not changed from the ticket.
 */
function inProgressNote(ticketId: string, record: LifecycleRecord, fingerprint: string): OutboxMessage {
  const body = [
    `Lifecycle Desk record ${record.id} is still in progress (${stateWords(record.state)}). A request on its way is not changed from the ticket, so this ticket change was not applied.`,
    `To ask for something else: cancel the record, or wait until it is finished, then add the tag ${REREQUEST_TAG} to the ticket. The request the ticket shows then is filed as a new record.`,
  ].join('\n');
  return {
    topic: TOPICS.zendeskNote,
    key: `zendesk-note.${ticketId}.${record.id}.${fingerprint.slice(0, 16)}`,
    payload: { ticket_id: ticketId, note: body, tags: [] },
  };
}

/** The advice posted on a ticket whose request type could not be told (there is no record to hold a draft). */
function needsKindNote(ticketId: string, mappingProblems: readonly Problem[], labels: FieldLabels | undefined): OutboxMessage {
  const problems: Problem[] = [{ field: 'kind', message: `choose the request type (${KINDS.join(', ')})` }, ...mappingProblems];
  const body = ['Lifecycle Desk cannot file this request yet. Please fix these ticket fields:', ...problemLines(problems, labels)].join('\n');
  return {
    topic: TOPICS.zendeskNote,
    // The same advice is posted once per ticket however often the ticket changes.
    key: `zendesk-note.${ticketId}.${noteHash(body).slice(0, 16)}`,
    payload: { ticket_id: ticketId, note: body },
  };
}

const accountIdsOf = (request: Record<string, unknown>): string[] => {
  const ids: string[] = [];
  if (typeof request.account_id === 'string') ids.push(request.account_id.trim());
  const merge = (request.details as { merge?: { target_account_id?: unknown } } | undefined)?.merge;
  if (merge && typeof merge.target_account_id === 'string') ids.push(merge.target_account_id.trim());
  return ids;
};

/** One ticket delivery; see `ingestTickets`. */
export async function ingestTicket(deps: AppDeps & { labels?: FieldLabels }, intake: TicketIntake): Promise<IngestOutcome> {
  const [outcome] = await ingestTickets(deps, [intake]);
  return outcome!;
}

/**
 * Turns ticket deliveries into record changes, exactly once, all in one transaction: deliveries
 * are claimed first (a retry or replay stops there), the tickets are locked (deliveries of one
 * ticket are serialised), an older ticket version arriving late is ignored, and a ticket edited
 * again revises its draft instead of creating a second record. New records of the batch are
 * written with one statement per table. The deliveries must name distinct tickets and keys
 * (`IngestBatcher` forms such batches); outcomes come back in the order given.
 */
export async function ingestTickets(deps: AppDeps & { labels?: FieldLabels }, intakes: readonly TicketIntake[]): Promise<IngestOutcome[]> {
  const tickets = new Set(intakes.map((i) => `${i.source}\u0000${i.ticketId}`));
  const keys = new Set(intakes.map((i) => `${i.source}\u0000${i.deliveryKey}`));
  if (tickets.size !== intakes.length || keys.size !== intakes.length) throw new Error('ingestTickets: a batch must name distinct tickets and delivery keys');
  return deps.store.transaction(async (uow) => {
    const now = deps.clock.now();
    const claimed = await uow.deliveries.claimMany(
      intakes.map((i) => ({ source: i.source, key: i.deliveryKey, signedKey: i.signedKey ?? null, ticketId: i.ticketId, ticketUpdatedAt: i.ticketUpdatedAt })),
    );
    const outcomes: IngestOutcome[] = intakes.map(() => ({ status: 'duplicate' }));
    const messages: OutboxMessage[] = [];
    const relevant: { index: number; intake: TicketIntake; mapped: Extract<MappedTicket, { relevant: true }> }[] = [];
    intakes.forEach((intake, index) => {
      if (!claimed.has(intake.deliveryKey)) return;
      if (intake.mapped === null) {
        messages.push({
          topic: TOPICS.zendeskFetch,
          key: `zendesk-fetch.${intake.deliveryKey}`,
          payload: { ticket_id: intake.ticketId, delivery_key: intake.deliveryKey },
        });
        outcomes[index] = { status: 'fetch_queued' };
      } else if (!intake.mapped.relevant) {
        outcomes[index] = { status: 'ignored' };
      } else {
        const request: Record<string, unknown> = { ...intake.mapped.request, ticket_id: intake.ticketId };
        relevant.push({ index, intake, mapped: { ...intake.mapped, request } });
      }
    });

    const creations: { index: number; input: CreateRecordInput }[] = [];
    if (relevant.length > 0) {
      const ticketIds = relevant.map((r) => r.intake.ticketId);
      await uow.records.lockTickets(ticketIds);
      // Read after the locks: these see every delivery of these tickets committed before ours.
      const newest = await uow.deliveries.newestTicketUpdates('zendesk', ticketIds);
      const latest = await uow.records.findLatestByTickets(ticketIds);
      const asked = await uow.ticketRequests.getMany('zendesk', ticketIds);
      const accountIds = relevant.flatMap((r) => accountIdsOf(r.mapped.request));
      const accounts = preloadedAccounts(uow, accountIds, await uow.accounts.getMany(accountIds));
      const revisions: { index: number; draft: LifecycleRecord; mapped: Extract<MappedTicket, { relevant: true }>; changed: boolean }[] = [];
      const seenNow: TicketRequestState[] = [];
      for (const { index, intake, mapped } of relevant) {
        const seen = newest.get(intake.ticketId);
        if (intake.ticketUpdatedAt && seen && Date.parse(seen) > Date.parse(intake.ticketUpdatedAt)) {
          outcomes[index] = { status: 'stale' };
          continue;
        }
        const fingerprint = requestFingerprint(mapped);
        const before = asked.get(intake.ticketId);
        const existing = latest.get(intake.ticketId);
        // A ticket with records but nothing stored (filed before fingerprints were kept) cannot be
        // compared: its draft is evaluated once more, but nothing new is filed from it (fail closed).
        const changed = before ? before.fingerprint !== fingerprint : !existing || existing.state === 'draft';
        // The re-request tag counts once, when it appears; a tag left on the ticket files nothing more.
        const rerequested = mapped.rerequest === true && before?.rerequest !== true;
        seenNow.push({ source: intake.source, ticket_id: intake.ticketId, fingerprint, rerequest: mapped.rerequest === true });
        if (existing?.state === 'draft') {
          revisions.push({ index, draft: existing, mapped, changed });
        } else if (existing && !SETTLED.includes(existing.state)) {
          if (changed || rerequested) {
            messages.push(inProgressNote(intake.ticketId, existing, fingerprint));
            outcomes[index] = { status: 'in_progress', record: existing };
          } else {
            outcomes[index] = { status: 'unchanged', record: existing };
          }
        } else if (!changed && !rerequested) {
          // The ticket asks for what its latest record already answered (an echo of our own update).
          outcomes[index] = existing ? { status: 'unchanged', record: existing } : { status: 'unchanged' };
        } else if (!KINDS.includes(mapped.request.kind as Kind)) {
          // Without a kind there is no record to keep a draft in; tell the agent on the ticket instead.
          messages.push(needsKindNote(intake.ticketId, mapped.mappingProblems, deps.labels));
          outcomes[index] = { status: 'needs_kind' };
        } else {
          creations.push({
            index,
            input: { request: mapped.request, actor: agentOf(mapped.request), onProblems: 'draft', extraProblems: mapped.mappingProblems },
          });
        }
      }
      await uow.ticketRequests.saveMany(seenNow);
      if (revisions.length > 0) {
        // Lock order everywhere: record rows, then audit heads. Revisions append per record, so
        // take every row and head this batch will touch first, each set in sorted order.
        await uow.records.lockMany(revisions.map((r) => r.draft.id));
        await uow.audit.lockHeads([
          ...revisions.flatMap((r) => [r.draft.account_id, accountIdOf(r.mapped.request)]),
          ...creations.map((c) => accountIdOf(c.input.request)),
        ]);
        for (const { index, draft, mapped, changed } of revisions) outcomes[index] = await reviseDraft(uow, deps, draft, mapped, changed, now, accounts);
      }
      if (creations.length > 0) {
        const created = await createRecordsIn(
          uow,
          deps,
          creations.map((c) => c.input),
          now,
          { accounts, alsoPublish: messages },
        );
        created.forEach(({ record }, k) => (outcomes[creations[k]!.index] = { status: 'created', record }));
      }
    }
    if (creations.length === 0) await uow.outbox.add(messages);

    const done: DeliveryOutcome[] = [];
    intakes.forEach((intake, i) => {
      if (claimed.has(intake.deliveryKey))
        done.push({ source: intake.source, key: intake.deliveryKey, outcome: outcomes[i]!.status, recordId: outcomes[i]!.record?.id ?? null });
    });
    await uow.deliveries.setOutcomes(done);
    return outcomes;
  });
}
