import { AppError } from '../records/errors';
import { systemActor } from '../records/actors';
import { accountAfterExternalChange } from '../records/apply';
import { implicitBook } from '../records/billing';
import type { BillingBook, BookStatus } from '../records/billing';
import type { AppDeps } from './deps';

/** A subscription as the provider reports it in an event (Stripe `customer.subscription.*`). */
export interface ExternalSubscriptionChange {
  /** The provider's event id: the same event twice changes nothing. */
  readonly eventId: string;
  readonly eventType: string;
  /** When the provider created the event (ISO); an older event than one already applied is ignored. */
  readonly createdAt: string;
  readonly customer: string;
  readonly subscriptionId: string;
  /** Catalog plan of the subscription's plan item; null for a subscription that bills no catalog plan (an add-on). */
  readonly plan: string | null;
  readonly status: Exclude<BookStatus, 'none'>;
  readonly cancelAt: string | null;
  readonly pauseResumesAt: string | null;
}

export type ExternalChangeOutcome = 'applied' | 'in_sync' | 'duplicate' | 'stale' | 'unknown_customer' | 'not_a_plan_subscription';

const PROVIDER = systemActor('billing-provider');
/**
 * How long a pending adjustment counts as a provider call in flight: longer than a call's timeout
 * (20 s) plus the job system's first retries; a row older than that is a call that died, and the
 * provider's event is taken now rather than deferred for ever.
 */
const IN_FLIGHT_MS = 10 * 60_000;
const sec = (iso: string | null) => (iso === null ? null : Math.floor(Date.parse(iso) / 1000));

/**
 * A change the billing provider reports (made in its dashboard, by the customer in its portal, or
 * by its own clock): the billing book and the account follow it, and the account's audit chain
 * records a `billing.external_change` event naming what changed. An event that only echoes what
 * Lifecycle Desk itself set finds the book already agreeing and changes nothing. While one of the
 * account's own billing calls is in flight the event is refused (`unavailable`), so the provider
 * delivers it again once that call is recorded, rather than it being mistaken for a change from
 * outside.
 */
export async function recordExternalChange(
  deps: Pick<AppDeps, 'store' | 'clock' | 'catalog'>,
  change: ExternalSubscriptionChange,
): Promise<ExternalChangeOutcome> {
  return deps.store.transaction(async (uow) => {
    // Claimed first: a replayed event stops here. Anything thrown below rolls the claim back too.
    const claimed = await uow.deliveries.claimMany([{ source: 'stripe', key: change.eventId, ticketId: null, ticketUpdatedAt: null }]);
    if (!claimed.has(change.eventId)) return 'duplicate';
    const account = await uow.accounts.findByBillingCustomerForUpdate(change.customer);
    const outcome = await (async (): Promise<ExternalChangeOutcome> => {
      if (!account) return 'unknown_customer';
      // An add-on subscription (no catalog plan on it) changing or ending says nothing about the account's plan subscription.
      if (change.plan === null) return 'not_a_plan_subscription';
      if (await uow.billing.pendingForAccount(account.id, new Date(deps.clock.now().getTime() - IN_FLIGHT_MS))) {
        throw new AppError('unavailable', `account ${account.id} has a billing change in flight; deliver the event again shortly`, { retryable: true });
      }
      const stored = await uow.billingBook.getForUpdate(account.id);
      const book = stored ?? implicitBook(account);
      if (book.external_event_at && Date.parse(book.external_event_at) >= Date.parse(change.createdAt)) return 'stale';
      const expectedPlan = book.next_plan_id ?? book.plan_id;
      const changes: Record<string, [unknown, unknown]> = {};
      const wasLive = book.status !== 'canceled' && book.status !== 'none';
      const isLive = change.status !== 'canceled';
      if (wasLive !== isLive || (isLive && (book.status === 'paused') !== (change.status === 'paused'))) changes.status = [book.status, change.status];
      if (isLive && change.plan !== null && change.plan !== expectedPlan) changes.plan = [expectedPlan, change.plan];
      if (isLive && sec(change.cancelAt) !== sec(book.cancel_at)) changes.cancel_at = [book.cancel_at, change.cancelAt];
      if (isLive && change.status === 'paused' && sec(change.pauseResumesAt) !== sec(book.pause_resumes_at))
        changes.pause_resumes_at = [book.pause_resumes_at, change.pauseResumesAt];
      if (Object.keys(changes).length === 0) return 'in_sync';

      const next: BillingBook = {
        ...book,
        ...(changes.plan ? { plan_id: change.plan, next_plan_id: null } : {}),
        status: change.status,
        cancel_at: isLive ? change.cancelAt : null,
        pause_resumes_at: change.status === 'paused' ? change.pauseResumesAt : null,
        external_event_at: change.createdAt,
      };
      await uow.billingBook.save(next, null);
      const after = accountAfterExternalChange(account, { plan: changes.plan ? change.plan : null, status: change.status }, deps.catalog);
      const accountChanges: Record<string, [unknown, unknown]> = {};
      for (const k of ['plan_id', 'status', 'mrr_minor'] as const) if (after[k] !== account[k]) accountChanges[k] = [account[k], after[k]];
      if (Object.keys(accountChanges).length) await uow.accounts.update(after);
      await uow.audit.append([
        {
          account_id: account.id,
          record_id: null,
          type: 'billing.external_change',
          actor: PROVIDER,
          occurred_at: deps.clock.now().toISOString(),
          data: { event_id: change.eventId, event_type: change.eventType, subscription_id: change.subscriptionId, billing: changes, account: accountChanges },
        },
      ]);
      return 'applied';
    })();
    await uow.deliveries.setOutcomes([{ source: 'stripe', key: change.eventId, outcome, recordId: null }]);
    return outcome;
  });
}
