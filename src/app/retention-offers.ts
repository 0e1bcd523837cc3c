import { systemActor } from '../records/actors';
import type { Actor } from '../records/actors';
import { findPlan } from '../records/catalog';
import { AppError, validationError } from '../records/errors';
import type { LifecycleRecord } from '../records/kinds';
import type { Policy } from '../records/policy';
import {
  describeOffer,
  discountCreditRequest,
  discountPeriods,
  linkedRequest,
  offerState,
  retentionRuleFor,
  RetentionOfferSchema,
  winBackDue,
} from '../records/retention-offers';
import type { OutboxMessage, UnitOfWork } from '../records/ports';
import { createRecordIn } from './create-record';
import type { AppDeps } from './deps';
import { TOPICS } from './topics';
import { transitionIn } from './transition-record';

/**
 * Retention offers, as use-cases: the policy step holds a matching request for its offer; the
 * agent records the customer's answer; accepted offers become records of their own; delayed jobs
 * file discount credits as periods end and create the win-back follow-up of a terminated account.
 */

export interface RetentionDeps extends AppDeps {
  readonly policy: Pick<Policy, 'retention_offers'>;
}

const RETENTION = systemActor('retention');

/**
 * Records an offer becomes carry the reason `retention_offer`, which is not one an agent picks
 * (it is not in REASONS_FILE): the taxonomy check is for requests people file.
 */
const withoutTaxonomy = (deps: AppDeps): AppDeps => ({ ...deps, reasons: undefined });

const planName = (deps: Pick<AppDeps, 'catalog'>) => (id: string) => findPlan(deps.catalog, id)?.name ?? id;

/**
 * In the policy step (its transaction, the record locked): a request whose kind and reason call
 * for a retention offer, and that has no answer yet, is held. The first time, the offer is
 * recorded on it (`record.offer_retention`, its terms as `offer_terms`: policy text, never personal
 * data, so they stay in the chain; the offer as made, so a later policy edit does not
 * change what the customer was offered). Returns the record while it waits, null when it goes on.
 */
export async function holdForRetentionOffer(
  uow: UnitOfWork,
  deps: Pick<RetentionDeps, 'policy' | 'catalog'>,
  record: LifecycleRecord,
  now: Date,
): Promise<LifecycleRecord | null> {
  const state = offerState(record);
  if (state && state.outcome !== 'pending') return null;
  const rule = retentionRuleFor(deps.policy.retention_offers, record);
  if (!rule) return null;
  if (state?.outcome === 'pending' && (await uow.audit.latestForRecord(record.id, 'record.offer_retention'))) return record;
  const offer = describeOffer(rule.offer, planName(deps));
  const { record: held } = await transitionIn(uow, now, {
    recordId: record.id,
    event: 'offer_retention',
    actor: systemActor('policy'),
    expectedVersion: record.version,
    patch: { details: { ...record.details, retention_offer: { offer, outcome: 'pending' } } },
    data: { rule: rule.name, offer_terms: rule.offer, offer_text: offer },
  });
  return held;
}

export interface RetentionAnswer {
  readonly recordId: string;
  readonly outcome: 'accepted' | 'declined';
  /** The agent (or supervisor) who recorded the customer's answer. */
  readonly actor: Actor;
  readonly note?: string;
  readonly expectedVersion?: number;
}

export interface RetentionAnswerOutcome {
  readonly record: LifecycleRecord;
  /** The record an accepted pause or downgrade became. */
  readonly linked: LifecycleRecord | null;
  /** Discount periods whose credits will be filed as each ends. */
  readonly discountPeriods: number;
}

/**
 * Records the customer's answer to the offer, in one transaction. Declined: the offer is marked
 * declined and the policy runs again (the request continues); for a termination with a win-back
 * rule, the follow-up is queued for `after_days` after its termination instant. Accepted: the
 * offer's own record is created (a 422 naming the problems, with nothing changed, if it cannot
 * be), or for a discount its credits are queued for the end of each period, and the request is
 * withdrawn, which tells the customer.
 */
export async function recordRetentionAnswer(deps: RetentionDeps, answer: RetentionAnswer): Promise<RetentionAnswerOutcome> {
  return deps.store.transaction(async (uow) => {
    const now = deps.clock.now();
    const record = await uow.records.getForUpdate(answer.recordId);
    if (!record) throw new AppError('not_found', `No lifecycle record ${answer.recordId}`);
    const state = offerState(record);
    if (record.state !== 'submitted' || state?.outcome !== 'pending') {
      throw new AppError(
        'illegal_transition',
        state && state.outcome !== 'pending'
          ? `The retention offer of record ${record.id} was already ${state.outcome}`
          : `Record ${record.id} is not waiting for a retention offer's answer (it is ${record.state})`,
        { details: { record_id: record.id, state: record.state } },
      );
    }
    if (answer.expectedVersion !== undefined && answer.expectedVersion !== record.version) {
      throw new AppError('conflict', `Record ${record.id} is at version ${record.version}, not ${answer.expectedVersion}; reload it and try again`);
    }
    const made = await uow.audit.latestForRecord(record.id, 'record.offer_retention');
    const parsed = RetentionOfferSchema.safeParse(made?.data.offer_terms);
    if (!parsed.success)
      throw new AppError('illegal_transition', `Record ${record.id} has no retention offer made by the policy; its offer field was typed on the ticket`);
    const offer = parsed.data;
    const note = answer.note?.trim() || undefined;
    const details = (outcome: 'accepted' | 'declined') => ({ ...record.details, retention_offer: { offer: state.offer, outcome } });

    if (answer.outcome === 'declined') {
      const win = deps.policy.retention_offers?.win_back;
      const due = record.kind === 'termination' && win ? winBackDue(record, win.after_days) : null;
      const { record: next } = await transitionIn(uow, now, {
        recordId: record.id,
        event: 'decline_offer',
        actor: answer.actor,
        expectedVersion: record.version,
        patch: { details: details('declined') },
        data: { offer_terms: offer, ...(note ? { note } : {}), ...(due ? { win_back_due: due.toISOString(), win_back_via: win!.via } : {}) },
        messages: (r) => (due ? [winBackMessage(r, due, win!.via)] : []),
      });
      return { record: next, linked: null, discountPeriods: 0 };
    }

    const account = await uow.accounts.get(record.account_id);
    if (!account) throw new AppError('not_found', `No account ${record.account_id}`);
    let linked: LifecycleRecord | null = null;
    let messages: OutboxMessage[] = [];
    if (offer.type === 'discount') {
      const periods = discountPeriods(offer, account, deps.catalog, now);
      if (!periods)
        throw validationError([
          { field: 'outcome', message: `a discount for months needs a plan billed monthly; account ${account.id}'s plan ${account.plan_id} is not` },
        ]);
      messages = periods.map((p) => ({
        topic: TOPICS.retentionCredit,
        key: `retention-credit.${record.id}.${p.index}`,
        payload: { record_id: record.id, period: p.index },
        available_at: p.end.toISOString(),
      }));
    } else {
      const created = await createRecordIn(
        uow,
        withoutTaxonomy(deps),
        { request: linkedRequest(offer, record, answer.actor.id, now), actor: answer.actor, onProblems: 'reject' },
        now,
      );
      linked = created.record;
      await uow.audit.append([
        {
          account_id: linked.account_id,
          record_id: linked.id,
          type: 'retention.linked',
          actor: answer.actor,
          occurred_at: now.toISOString(),
          data: { offer_terms: offer, from_record_id: record.id },
        },
      ]);
    }
    const { record: next } = await transitionIn(uow, now, {
      recordId: record.id,
      event: 'cancel',
      actor: answer.actor,
      expectedVersion: record.version,
      reason: `Retention offer accepted: ${state.offer}`,
      patch: { details: details('accepted') },
      data: {
        offer_terms: offer,
        ...(note ? { note } : {}),
        ...(linked ? { linked_record_id: linked.id } : {}),
        ...(messages.length ? { discount_periods: messages.map((m) => m.available_at) } : {}),
      },
      messages: () => messages,
    });
    return { record: next, linked, discountPeriods: messages.length };
  });
}

/** On the queue of the system it calls: a Zendesk ticket, or a Slack reminder. */
const winBackMessage = (record: LifecycleRecord, due: Date, via: 'zendesk' | 'slack'): OutboxMessage => ({
  topic: via === 'zendesk' ? TOPICS.retentionWinBackTicket : TOPICS.retentionWinBackReminder,
  key: `retention-winback.${record.id}`,
  payload: { record_id: record.id },
  available_at: due.toISOString(),
});

/** Whether a delayed retention job ran early (a relay or clock ahead of ours): it is retried, never done early. */
function notYet(now: Date, due: Date, what: string): AppError {
  return new AppError('conflict', `${what} is due at ${due.toISOString()}, not yet (now ${now.toISOString()})`, { retryable: true });
}

/**
 * Files the goodwill credit of one discounted period once it has ended, as a new record (policy
 * and approval as for any credit). Once per record and period: the withdrawn request's row is
 * locked and the filing is in its audit trail, so a repeated job files nothing.
 */
export async function fileDiscountCredit(deps: RetentionDeps, recordId: string, index: number): Promise<'filed' | 'already_filed'> {
  return deps.store.transaction(async (uow) => {
    const now = deps.clock.now();
    const record = await uow.records.getForUpdate(recordId);
    if (!record) throw new AppError('not_found', `No lifecycle record ${recordId}`, { retryable: false });
    const type = `retention.credit_filed.${index}`;
    if (await uow.audit.latestForRecord(recordId, type)) return 'already_filed';
    const accepted = await uow.audit.latestForRecord(recordId, 'record.cancel');
    const offer = RetentionOfferSchema.safeParse(accepted?.data.offer_terms);
    if (!offer.success || offer.data.type !== 'discount')
      throw new AppError('internal', `Record ${recordId} has no accepted discount offer`, { retryable: false });
    const account = await uow.accounts.get(record.account_id);
    if (!account) throw new AppError('not_found', `No account ${record.account_id}`, { retryable: false });
    // The periods as they were when the offer was accepted.
    const periods = discountPeriods(offer.data, account, deps.catalog, new Date(accepted!.occurred_at));
    const period = periods?.find((p) => p.index === index);
    if (!period) throw new AppError('internal', `Record ${recordId}: no discounted period ${index}`, { retryable: false });
    if (now < period.end) throw notYet(now, period.end, `The discount credit of period ${index} of record ${recordId}`);
    const { record: credit } = await createRecordIn(
      uow,
      withoutTaxonomy(deps),
      { request: discountCreditRequest(record, period, accepted!.actor.id), actor: RETENTION, onProblems: 'reject' },
      now,
    );
    await uow.audit.append([
      {
        account_id: record.account_id,
        record_id: recordId,
        type,
        actor: RETENTION,
        occurred_at: now.toISOString(),
        data: { period: index, credit_record_id: credit.id, amount: period.credit },
      },
      {
        account_id: credit.account_id,
        record_id: credit.id,
        type: 'retention.linked',
        actor: RETENTION,
        occurred_at: now.toISOString(),
        data: { offer_terms: offer.data, from_record_id: recordId, period: index },
      },
    ]);
    return 'filed';
  });
}

/** What a win-back follow-up says; the channel decides where it goes. */
export interface WinBackFollowUp {
  /** Stable per record: the channel's idempotency key (a Zendesk ticket's external_id). */
  readonly key: string;
  readonly subject: string;
  readonly body: string;
  readonly accountId: string;
}

/** Where win-back follow-ups go (a Zendesk ticket or a Slack reminder). Failures are AppErrors with `retryable`. */
export interface WinBackChannel {
  readonly via: 'zendesk' | 'slack';
  /** Creates the follow-up unless one with this key exists; returns its reference. */
  createFollowUp(followUp: WinBackFollowUp): Promise<{ ref: string; created: boolean }>;
}

export interface WinBackDeps extends RetentionDeps {
  readonly winBack: WinBackChannel;
}

/**
 * The win-back follow-up of a terminated account whose retention offer was declined, created
 * when it is due (its delayed job; a job that runs early is retried). Nothing is created for a
 * termination that did not happen (rejected, cancelled), and one is created once: the channel
 * looks for the follow-up's key first, and the creation is recorded in the audit trail.
 */
export async function runWinBack(deps: WinBackDeps, recordId: string): Promise<'created' | 'already_created' | 'not_terminated'> {
  const prepared = await deps.store.transaction(async (uow) => {
    const record = await uow.records.get(recordId);
    if (!record) throw new AppError('not_found', `No lifecycle record ${recordId}`, { retryable: false });
    if (await uow.audit.latestForRecord(recordId, 'retention.win_back')) return 'already_created' as const;
    if (['rejected', 'cancelled'].includes(record.state)) return 'not_terminated' as const;
    const win = deps.policy.retention_offers?.win_back;
    const due = winBackDue(record, win?.after_days ?? 0);
    if (!due) return 'not_terminated' as const;
    const now = deps.clock.now();
    if (now < due) throw notYet(now, due, `The win-back follow-up of record ${recordId}`);
    if (!['applied', 'confirmed', 'closed'].includes(record.state)) {
      throw new AppError('conflict', `Record ${recordId} is ${record.state}, not yet applied; the win-back follow-up waits for the termination`, {
        retryable: true,
      });
    }
    const account = await uow.accounts.get(record.account_id);
    return { record, accountName: account?.name ?? record.account_id };
  });
  if (typeof prepared === 'string') return prepared;
  const { record, accountName } = prepared;
  const offer = offerState(record);
  const ended = record.effective_at!.slice(0, 10);
  const made = await deps.winBack.createFollowUp({
    key: `lifecycle-winback-${record.id}`,
    accountId: record.account_id,
    subject: `Win-back: ${accountName} (${record.account_id}) left on ${ended}`,
    body:
      `The account ${accountName} (${record.account_id}) was terminated on ${ended} (reason: ${record.reason_code}).` +
      `${offer ? ` The retention offer, ${offer.offer}, was declined.` : ''}` +
      `${record.ticket_id ? ` The request was ticket ${record.ticket_id}.` : ''} Time to check in and try to win them back.`,
  });
  await deps.store.transaction(async (uow) => {
    if (await uow.audit.latestForRecord(recordId, 'retention.win_back')) return;
    await uow.audit.append([
      {
        account_id: record.account_id,
        record_id: recordId,
        type: 'retention.win_back',
        actor: RETENTION,
        occurred_at: deps.clock.now().toISOString(),
        data: { via: deps.winBack.via, ref: made.ref },
      },
    ]);
  });
  return made.created ? 'created' : 'already_created';
}
