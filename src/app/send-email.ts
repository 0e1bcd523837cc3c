import { AppError } from '../records/errors';
import { systemActor } from '../records/actors';
import type { LifecycleRecord } from '../records/kinds';
import type { EmailSender, UnitOfWork } from '../records/ports';
import type { AppDeps } from './deps';
import type { EmailOutcome } from './record-events';
import { transitionIn } from './transition-record';

export interface EmailView {
  readonly record: LifecycleRecord;
  readonly account: { readonly id: string; readonly name: string; readonly currency: string };
  readonly ticketId: string | null;
  readonly reason?: string | null;
}

export interface EmailRenderer {
  render(outcome: EmailOutcome, view: EmailView): { subject: string; text: string; html: string };
}

export interface EmailDeps extends Pick<AppDeps, 'store' | 'clock'> {
  readonly sender: EmailSender;
  readonly renderer: EmailRenderer;
  /** Domain for deterministic Message-IDs. */
  readonly messageIdDomain: string;
}

export type EmailResult = 'sent' | 'already_sent' | 'skipped_no_recipient';

const MAILER = systemActor('email');

/**
 * Emails the customer about one outcome of a record, once: the delivery is stored (pending)
 * before sending and marked sent in the transaction that records it; a retry finds it sent and
 * only finishes what is left (moving an applied record to `confirmed`).
 */
export async function sendCustomerEmail(deps: EmailDeps, recordId: string, outcome: EmailOutcome): Promise<EmailResult> {
  const key = `email.${recordId}.${outcome}`;
  const messageId = `<${recordId}.${outcome}@${deps.messageIdDomain}>`;
  const prepared = await deps.store.transaction(async (uow) => {
    const record = await uow.records.get(recordId);
    if (!record) throw new AppError('not_found', `No lifecycle record ${recordId}`, { retryable: false });
    const account = await uow.accounts.get(record.account_id);
    const to = record.requester?.email ?? account?.contacts[0] ?? null;
    const status = await uow.emails.ensure(key, recordId, outcome, messageId);
    const rejection = outcome === 'rejected' ? await uow.audit.latestForRecord(recordId, 'record.reject') : null;
    return { record, account, to, status, reason: (rejection?.data.reason as string | undefined) ?? null };
  });

  if (prepared.status === 'pending') {
    if (!prepared.to) {
      await deps.store.transaction(async (uow) => {
        await uow.emails.markSkipped(key, 'no requester email and no account contact');
        await uow.audit.append([
          {
            account_id: prepared.record.account_id,
            record_id: recordId,
            type: 'email.skipped',
            actor: MAILER,
            occurred_at: deps.clock.now().toISOString(),
            data: { outcome, reason: 'no requester email and no account contact' },
          },
        ]);
      });
      return 'skipped_no_recipient';
    }
    const { record, account } = prepared;
    const rendered = deps.renderer.render(outcome, {
      record,
      account: { id: record.account_id, name: account?.name ?? record.account_id, currency: account?.currency ?? record.amount?.currency ?? 'EUR' },
      ticketId: record.ticket_id,
      reason: prepared.reason,
    });
    const sent = await deps.sender.send({ to: prepared.to, messageId, ...rendered });
    await deps.store.transaction(async (uow) => {
      await uow.emails.markSent(key, sent.response);
      await uow.audit.append([
        {
          account_id: record.account_id,
          record_id: recordId,
          type: 'email.sent',
          actor: MAILER,
          occurred_at: deps.clock.now().toISOString(),
          data: { outcome, message_id: messageId, subject: rendered.subject },
        },
      ]);
      await confirmIfApplied(uow, deps, recordId, outcome);
    });
    return 'sent';
  }
  await deps.store.transaction((uow) => confirmIfApplied(uow, deps, recordId, outcome));
  return 'already_sent';
}

async function confirmIfApplied(uow: UnitOfWork, deps: Pick<AppDeps, 'clock'>, recordId: string, outcome: EmailOutcome) {
  if (outcome !== 'applied' && outcome !== 'credit_granted') return;
  const record = await uow.records.get(recordId);
  if (record?.state !== 'applied') return;
  await transitionIn(uow, deps.clock.now(), { recordId, event: 'confirm', actor: MAILER, expectedVersion: record.version });
}
