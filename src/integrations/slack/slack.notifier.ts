import { ErrorCode as SlackErrorCode } from '@slack/web-api';
import { slackRateLimited } from './rate-limit';
import type { WebClient } from '@slack/web-api';
import type { Knex } from 'knex';
import { AppError } from '../../records/errors';
import { loadApprovalSnapshot } from '../../db/approval.queries';
import type { ApprovalSnapshot } from '../../db/approval.queries';
import { KnexApprovalRepository } from '../../db/approvals.repository';
import { approvalRequestMessage, decisionMessage, escapeMrkdwn, mentionUser } from './blocks';
import type { SlackMessage } from './blocks';

/** Slack errors that will not go away by retrying. */
const PERMANENT = new Set([
  'channel_not_found',
  'not_in_channel',
  'invalid_auth',
  'account_inactive',
  'token_revoked',
  'missing_scope',
  'invalid_blocks',
  'invalid_arguments',
  'msg_too_long',
  'is_archived',
  'message_not_found',
  'cant_update_message',
]);

/** Maps a Web API failure to AppError('provider_failed', …, { retryable }). */
export function slackFailure(err: unknown, what: string): AppError {
  const limited = slackRateLimited(err);
  if (limited) return limited;
  const e = err as { code?: string; data?: { error?: string } };
  const slackError = e.data?.error;
  const retryable = e.code === SlackErrorCode.PlatformError ? !PERMANENT.has(slackError ?? '') : true;
  return new AppError('provider_failed', `Slack ${what} failed: ${slackError ?? (err as Error).message}`, { cause: err, retryable });
}

export type ApprovalPostKind = 'initial' | 'reminder' | 'escalation';

const mentionGroup = (id: string) => (/^S[A-Z0-9]{2,}$/.test(id) ? `<!subteam^${id}>` : '');

/**
 * Posts and updates the Slack messages of approvals: the request (and its reminders and
 * escalation), the decided message, and alerts for the team. Reads current state each time, so a
 * late or repeated job shows the truth rather than what was true when it was queued.
 */
export class SlackNotifier {
  constructor(
    private readonly client: WebClient,
    private readonly db: Knex,
    private readonly channel: string,
    private readonly ticketUrl: (ticketId: string) => string | null,
  ) {}

  private view(s: ApprovalSnapshot) {
    return { record: s.record, accountName: s.accountName, ticketUrl: s.record.ticket_id ? this.ticketUrl(s.record.ticket_id) : null };
  }

  private pendingMessage(s: ApprovalSnapshot, kind: ApprovalPostKind): SlackMessage {
    const req = s.request!;
    const escalationMention =
      kind === 'escalation'
        ? [...req.escalation.user_groups.map(mentionGroup), ...req.escalation.user_ids.map(mentionUser)].filter(Boolean).join(' ')
        : undefined;
    return approvalRequestMessage({
      ...this.view(s),
      riskExplanations: req.risk,
      approvalsRequired: Math.max(1, req.approvals_required),
      approvals: s.decisions.filter((d) => d.decision === 'approve').map((d) => ({ user_id: d.approver_id, at: d.decided_at })),
      reminder: kind !== 'initial',
      preview: s.preview,
      ...(escalationMention ? { escalationMention } : {}),
    });
  }

  /** Posts the approval request; reminders and escalations re-post it with mentions. Skips decided records. */
  async postApprovalRequest(recordId: string, kind: ApprovalPostKind): Promise<'posted' | 'not_pending'> {
    const s = await loadApprovalSnapshot(this.db, recordId);
    if (!s || !s.request || s.record.state !== 'pending_approval') return 'not_pending';
    if (kind !== 'initial' && s.request.messages.some((m) => m.kind === kind)) return 'posted';
    const message = this.pendingMessage(s, kind);
    const approvers = [...s.request.approvers.user_ids.map(mentionUser), ...s.request.approvers.user_groups.map(mentionGroup)].filter(Boolean).join(' ');
    const lead =
      kind === 'reminder'
        ? `:hourglass: Reminder ${approvers}: still waiting for a decision. `
        : kind === 'escalation'
          ? ':rotating_light: Escalated: no decision yet. '
          : '';
    let ts: string | undefined;
    try {
      const res = await this.client.chat.postMessage({ channel: this.channel, text: lead + message.text, blocks: message.blocks, unfurl_links: false });
      ts = res.ts;
    } catch (err) {
      throw slackFailure(err, 'chat.postMessage');
    }
    if (ts) await new KnexApprovalRepository(this.db).addMessage(recordId, this.channel, ts, kind);
    return 'posted';
  }

  /** Brings every posted message of the request in line with the record: decided (no buttons) or still pending. */
  async updateApprovalMessages(recordId: string): Promise<number> {
    const s = await loadApprovalSnapshot(this.db, recordId);
    if (!s || !s.request || !s.request.channel) return 0;
    let message: SlackMessage;
    if (s.record.state === 'pending_approval') {
      message = this.pendingMessage(s, 'initial');
    } else {
      const decided = s.decisions.filter((d) => (s.record.state === 'rejected' ? d.decision === 'reject' : d.decision === 'approve'));
      const outcome =
        s.record.state === 'rejected'
          ? 'rejected'
          : s.record.state === 'cancelled'
            ? 'cancelled'
            : s.request.outcome === 'approved' || decided.length
              ? 'approved'
              : 'changed';
      const reason = decided.find((d) => d.reason)?.reason ?? undefined;
      message = decisionMessage({
        ...this.view(s),
        outcome,
        decidedBy: decided.map((d) => d.approver_id),
        decidedAt: s.request.decided_at ?? s.record.updated_at,
        ...(reason ? { reason } : {}),
      });
    }
    for (const m of s.request.messages) {
      try {
        await this.client.chat.update({ channel: s.request.channel, ts: m.ts, text: message.text, blocks: message.blocks });
      } catch (err) {
        throw slackFailure(err, 'chat.update');
      }
    }
    return s.request.messages.length;
  }

  /** A reminder for the team in the approval channel (a win-back follow-up); returns the message's ts. */
  async remind(text: string): Promise<{ ref: string }> {
    try {
      const res = await this.client.chat.postMessage({ channel: this.channel, text: `:alarm_clock: ${escapeMrkdwn(text)}`, unfurl_links: false });
      return { ref: String(res.ts ?? '') };
    } catch (err) {
      throw slackFailure(err, 'chat.postMessage');
    }
  }

  /** Tells the team in the approval channel that a record needs a human. */
  async alert(recordId: string, problem: string): Promise<void> {
    const s = await loadApprovalSnapshot(this.db, recordId);
    const r = s?.record;
    const ticket = r?.ticket_id ? this.ticketUrl(r.ticket_id) : null;
    const billing = await this.db('billing_adjustments')
      .where({ record_id: recordId })
      .whereNotNull('last_error')
      .orderBy('updated_at', 'desc')
      .first('last_error');
    const cause = billing?.last_error ? ` Last billing error: ${escapeMrkdwn(String(billing.last_error).slice(0, 500))}.` : '';
    const text =
      `:warning: Lifecycle record \`${recordId}\`${r ? ` (${r.kind} for ${escapeMrkdwn(s?.accountName ?? r.account_id)})` : ''} needs attention: ${escapeMrkdwn(problem)}.${cause}` +
      `${ticket ? ` <${ticket}|Ticket ${r!.ticket_id}>.` : ''}` +
      // Only a failed record can be retried; an applied one whose fee or refund was refused is settled by hand.
      (r && r.state !== 'failed' ? '' : ` Retry with \`lifecycle-desk records retry ${recordId}\` once the cause is fixed.`);
    try {
      await this.client.chat.postMessage({ channel: this.channel, text, unfurl_links: false });
    } catch (err) {
      throw slackFailure(err, 'chat.postMessage');
    }
  }
}
