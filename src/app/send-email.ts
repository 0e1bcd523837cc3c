import { AppError } from '../records/errors';
import { systemActor } from '../records/actors';
import type { LifecycleRecord } from '../records/kinds';
import type { ConfirmedAdjustment, EmailSender, PublicReplyChannel, UnitOfWork } from '../records/ports';
import type { AppDeps } from './deps';
import type { EmailOutcome } from './record-events';
import { transitionIn } from './transition-record';

export interface EmailView {
  readonly record: LifecycleRecord;
  readonly account: { readonly id: string; readonly name: string; readonly currency: string };
  readonly ticketId: string | null;
  readonly reason?: string | null;
  /** For a `resolved` email: how the dispute was decided. */
  readonly resolution?: string | null;
  /** A cancelled record was withdrawn by the customer (through their link), not by the team. */
  readonly cancelledByCustomer?: boolean;
  /** The customer's signed link to see (and, if allowed, cancel) a scheduled change. */
  readonly manageUrl?: string | null;
  /** The account's language (accounts.locale): templates in it are used when they exist. */
  readonly locale?: string | null;
  /** What the billing provider confirmed for the record: the only source of money an email may state. */
  readonly billing?: readonly ConfirmedAdjustment[];
}

export interface EmailRenderer {
  render(outcome: EmailOutcome, view: EmailView): { subject: string; text: string; html: string };
}

export interface EmailDeps extends Pick<AppDeps, 'store' | 'clock'> {
  readonly sender: EmailSender;
  readonly renderer: EmailRenderer;
  /**
   * EMAIL_CHANNEL=zendesk_comment: post the message as a public reply on the record's ticket
   * instead of emailing it, when the ticket's requester is one of the account's contacts (Zendesk
   * sends it to the requester). Otherwise, and for records without a ticket, it is emailed.
   */
  readonly publicReplies?: PublicReplyChannel;
  /** Signs the link a scheduled change's email carries (PUBLIC_BASE_URL + CUSTOMER_LINK_SECRET); no link without it. */
  readonly customerLinks?: { urlFor(record: Pick<LifecycleRecord, 'id' | 'effective_at'>): string | null };
  /** Domain for deterministic Message-IDs. */
  readonly messageIdDomain: string;
  /** How long a sender holds a delivery before another may assume it died (ms). */
  readonly sendLeaseMs?: number;
  /** Wait before the n-th retry of the "sent" mark (default 100 ms doubling to 5 s). */
  readonly markRetryDelayMs?: (attempt: number) => number;
  /** Told about each failed attempt to mark an email sent (for the log). */
  readonly onMarkRetry?: (err: unknown, attempt: number) => void;
}

export type EmailResult = 'sent' | 'already_sent' | 'skipped_no_recipient';

const MAILER = systemActor('email');

/**
 * Who receives a customer email: the account's contacts, all of them. The ticket's requester is
 * among them only when they are a contact; anyone else who writes in (the `unknown_requester`
 * risk flag) never receives the account's billing details.
 */
export function customerRecipients(account: { readonly contacts: readonly string[] } | null): string[] {
  return [...new Set((account?.contacts ?? []).map((c) => c.trim()).filter(Boolean))];
}

/**
 * Emails the customer about one outcome of a record, once: the delivery is stored and claimed
 * (a lease, so two workers never send it at the same time) before sending, and marked sent right
 * after the server's 250; a retry finds it sent and only finishes what is left (moving an applied
 * record to `confirmed`). Once the server has said 250, the mark is retried in this process until
 * it commits (PostgreSQL restarting, a dropped connection): giving the job back would let the
 * lease expire and send the email again. The one window left is the process dying (kill -9, a
 * power cut) between the 250 and that commit, a single UPDATE: then the lease expires and the
 * email is sent again, with the same Message-ID so mail systems can recognise the duplicate.
 */
export async function sendCustomerEmail(deps: EmailDeps, recordId: string, outcome: EmailOutcome, opts: { outboxKey?: string } = {}): Promise<EmailResult> {
  // The job's outbox row completes in the last transaction of every path.
  const done = (uow: UnitOfWork) => (opts.outboxKey ? uow.outbox.complete([opts.outboxKey]) : Promise.resolve());
  const key = `email.${recordId}.${outcome}`;
  const messageId = `<${recordId}.${outcome}@${deps.messageIdDomain}>`;
  const prepared = await deps.store.transaction(async (uow) => {
    const record = await uow.records.get(recordId);
    if (!record) throw new AppError('not_found', `No lifecycle record ${recordId}`, { retryable: false });
    const account = await uow.accounts.get(record.account_id);
    const recipients = customerRecipients(account);
    const to = recipients.length ? recipients.join(', ') : null;
    const stored = await uow.emails.ensure(key, recordId, outcome, messageId);
    const status = stored === 'pending' || stored === 'sending' ? ((await uow.emails.claim(key, deps.sendLeaseMs ?? 60_000)) ? 'claimed' : 'busy') : stored;
    // The reason the customer is told: the supervisor's for a rejection or a resolution, whoever withdrew it for a cancellation.
    const decisionType =
      outcome === 'rejected' ? 'record.reject' : outcome === 'resolved' ? 'record.resolve' : outcome === 'cancelled' ? 'record.cancel' : null;
    const decision = decisionType ? await uow.audit.latestForRecord(recordId, decisionType) : null;
    const billing = status === 'claimed' ? await uow.billing.confirmed(recordId) : [];
    // A reversal's reason is the one its filer gave (the resolution's, when a dispute filed it).
    const reason = outcome === 'reversed' ? record.reason_text || null : ((decision?.data.reason as string | undefined) ?? null);
    const resolution = outcome === 'resolved' ? ((decision?.data.outcome as string | undefined) ?? null) : null;
    const cancelledByCustomer = decision?.type === 'record.cancel' && decision.actor.role === 'customer';
    return { record, account, to, status, reason, resolution, cancelledByCustomer, billing };
  });

  if (prepared.status === 'busy') {
    throw new AppError('conflict', `the ${outcome} email of record ${recordId} is being sent by another worker`, { retryable: true });
  }
  if (prepared.status === 'claimed') {
    if (!prepared.to) {
      await deps.store.transaction(async (uow) => {
        await uow.emails.markSkipped(key, 'the account has no contact');
        await uow.audit.append([
          {
            account_id: prepared.record.account_id,
            record_id: recordId,
            type: 'email.skipped',
            actor: MAILER,
            occurred_at: deps.clock.now().toISOString(),
            data: { outcome, reason: 'the account has no contact' },
          },
        ]);
        await done(uow);
      });
      return 'skipped_no_recipient';
    }
    const { record, account } = prepared;
    const rendered = deps.renderer.render(outcome, {
      record,
      account: { id: record.account_id, name: account?.name ?? record.account_id, currency: account?.currency ?? record.amount?.currency ?? 'EUR' },
      ticketId: record.ticket_id,
      reason: prepared.reason,
      resolution: prepared.resolution,
      cancelledByCustomer: prepared.cancelledByCustomer,
      locale: account?.locale ?? null,
      manageUrl: outcome === 'scheduled' ? (deps.customerLinks?.urlFor(record) ?? null) : null,
      billing: prepared.billing,
    });
    const viaTicket = deps.publicReplies && record.ticket_id && replyReachesOnlyContacts(record, account) ? record.ticket_id : null;
    let sent: { response: string };
    try {
      sent = viaTicket ? await deps.publicReplies!.postPublicReply(viaTicket, rendered) : await deps.sender.send({ to: prepared.to, messageId, ...rendered });
    } catch (err) {
      await deps.store.transaction((uow) => uow.emails.release(key));
      throw err;
    }
    // One statement, straight after the server's 250: the window in which a crash would send
    // this email again is as short as it can be.
    await markSentUntilCommitted(deps, () => deps.store.transaction((uow) => uow.emails.markSent(key, sent.response, rendered.subject)));
    await deps.store.transaction(async (uow) => {
      await finish(uow, deps, prepared.record, key, outcome);
      await done(uow);
    });
    return 'sent';
  }
  await deps.store.transaction(async (uow) => {
    await finish(uow, deps, prepared.record, key, outcome);
    await done(uow);
  });
  return 'already_sent';
}

/**
 * A public reply goes to the ticket's requester: only when they are one of the account's contacts
 * (the same rule as for emails), so someone writing in from elsewhere never receives the account's
 * details.
 */
function replyReachesOnlyContacts(record: LifecycleRecord, account: { readonly contacts: readonly string[] } | null): boolean {
  const requester = record.requester?.email.trim().toLowerCase();
  return !!requester && customerRecipients(account).some((c) => c.toLowerCase() === requester);
}

/**
 * The email is out; only the record of it is missing. Every failure is retried (backing off to
 * one attempt every 5 s) for as long as it takes, holding the job: nothing else can make the
 * delivery correct, and a job given back would send the email again once the lease expires.
 */
async function markSentUntilCommitted(deps: EmailDeps, mark: () => Promise<void>): Promise<void> {
  const delay = deps.markRetryDelayMs ?? ((n: number) => Math.min(5000, 100 * 2 ** (n - 1)));
  for (let attempt = 1; ; attempt++) {
    try {
      await mark();
      return;
    } catch (err) {
      deps.onMarkRetry?.(err, attempt);
      await new Promise((r) => setTimeout(r, delay(attempt)));
    }
  }
}

/** After the email is sent: its audit event (once) and, for applied records, the move to confirmed. Safe to repeat. */
async function finish(uow: UnitOfWork, deps: Pick<AppDeps, 'clock'>, record: LifecycleRecord, key: string, outcome: EmailOutcome) {
  const audited = await uow.emails.markAudited(key);
  if (audited) {
    await uow.audit.append([
      {
        account_id: record.account_id,
        record_id: record.id,
        type: 'email.sent',
        actor: MAILER,
        occurred_at: deps.clock.now().toISOString(),
        data: { outcome, message_id: audited.message_id, subject: audited.subject },
      },
    ]);
  }
  await confirmIfApplied(uow, deps, record.id, outcome);
}

async function confirmIfApplied(uow: UnitOfWork, deps: Pick<AppDeps, 'clock'>, recordId: string, outcome: EmailOutcome) {
  if (outcome !== 'applied' && outcome !== 'credit_granted' && outcome !== 'reversed') return;
  const record = await uow.records.get(recordId);
  if (record?.state !== 'applied') return;
  await transitionIn(uow, deps.clock.now(), { recordId, event: 'confirm', actor: MAILER, expectedVersion: record.version });
}
