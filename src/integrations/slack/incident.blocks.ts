import type { types as SlackTypes } from '@slack/bolt';
import { formatMoney } from '../../records/money';
import type { Money } from '../../records/money';
import type { IncidentBatch, IncidentBatchDecision, StoredIncident } from '../../records/ports';
import { SLACK_LIMITS, clip, escapeMrkdwn, formatInstant, mentionUser } from './blocks';
import type { SlackMessage } from './blocks';

/**
 * Block Kit for the one approval of an incident credit batch, and the same message once decided,
 * showing the credits' progress. Pure; every text that came from people is escaped and clipped to
 * Slack's limits (as in blocks.ts).
 */

type KnownBlock = SlackTypes.KnownBlock;
type Button = SlackTypes.Button;
type ModalView = SlackTypes.ModalView;

export const ACTION_INCIDENT_APPROVE_ALL = 'incident_approve_all';
export const ACTION_INCIDENT_APPROVE_UNFLAGGED = 'incident_approve_unflagged';
export const ACTION_INCIDENT_REJECT = 'incident_reject';
export const INCIDENT_ACTIONS_BLOCK_ID = 'incident_actions';
export const INCIDENT_REJECT_MODAL_CALLBACK_ID = 'incident_reject_modal';
export const INCIDENT_REASON_BLOCK_ID = 'reason';
export const INCIDENT_REASON_ACTION_ID = 'reason_input';

const esc = (text: string, max = 1000) => escapeMrkdwn(clip(text, max));
const code = (text: string) => '`' + esc(text, 200).replace(/`/g, 'ʹ') + '`';
const plain = (text: string, max: number) => ({ type: 'plain_text' as const, text: clip(text, max) || ' ', emoji: true });
const section = (text: string, blockId?: string): KnownBlock => ({
  type: 'section',
  text: { type: 'mrkdwn', text: clip(text, SLACK_LIMITS.sectionText), verbatim: true },
  ...(blockId ? { block_id: blockId } : {}),
});
const context = (...texts: string[]): KnownBlock => ({
  type: 'context',
  elements: texts.slice(0, SLACK_LIMITS.contextElements).map((t) => ({ type: 'mrkdwn', text: clip(t, SLACK_LIMITS.sectionText), verbatim: true })),
});
const header = (text: string): KnownBlock => ({ type: 'header', text: plain(text, SLACK_LIMITS.headerText) });
const fmt = (m: Money) => {
  try {
    return formatMoney(m);
  } catch {
    return `${m.amount_minor} ${esc(m.currency, 10)} (minor units)`;
  }
};

export interface IncidentBatchView {
  readonly incident: StoredIncident;
  readonly batch: IncidentBatch;
  readonly decisions: readonly IncidentBatchDecision[];
  /** Names of the accounts the message shows, looked up when it is rendered (absent: erased or unknown). */
  readonly accountNames?: ReadonlyMap<string, string>;
}

/** The value every button of a batch carries. */
export const incidentButtonValue = (batchId: string) => JSON.stringify({ batch_id: batchId });

export function parseIncidentButtonValue(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  try {
    const v = JSON.parse(value) as Record<string, unknown>;
    return typeof v.batch_id === 'string' && /^[0-9a-f-]{36}$/i.test(v.batch_id) ? v.batch_id : null;
  } catch {
    return null;
  }
}

function factBlocks(v: IncidentBatchView): KnownBlock[] {
  const { incident: i, batch: b } = v;
  const who = (id: string) => {
    const name = v.accountNames?.get(id);
    return name ? `${esc(name, 100)} (${code(id)})` : code(id);
  };
  const s = b.summary;
  const uptime = i.measured_uptime_percent === null ? 'computed per account from the window and its billing period' : `${i.measured_uptime_percent}% (given)`;
  const blocks: KnownBlock[] = [
    section(
      `*Incident* ${code(i.reference)} · ${esc(i.service, 200)}\n*Window* ${formatInstant(i.starts_at)} → ${formatInstant(i.ends_at)}\n*Uptime* ${uptime}` +
        (i.plans.length ? `\n*Plans* ${i.plans.map((p) => esc(p, 100)).join(', ')}` : ''),
      'incident',
    ),
    {
      type: 'section',
      block_id: 'totals',
      fields: [
        { type: 'mrkdwn', text: `*Accounts*\n${s.accounts}`, verbatim: true },
        { type: 'mrkdwn', text: clip(`*Total credits*\n${s.totals.map(fmt).join('\n') || 'none'}`, SLACK_LIMITS.sectionField), verbatim: true },
        { type: 'mrkdwn', text: `*Flagged by risk rules*\n${s.flagged_count}`, verbatim: true },
        { type: 'mrkdwn', text: `*Requested by*\n${esc(b.requested_by, 200)}`, verbatim: true },
      ],
    },
  ];
  if (s.largest.length) {
    blocks.push(
      section(`*Largest credits*\n${s.largest.map((l) => `• ${who(l.account_id)}: ${fmt(l.credit)}, uptime ${l.uptime_percent}%`).join('\n')}`, 'largest'),
    );
  }
  if (s.flagged_count) {
    const lines = s.flagged.map((f) => `• ${who(f.account_id)} ${fmt(f.credit)}: ${f.risk.map((r) => esc(r.message, 300)).join('; ')}`);
    const more = s.flagged_count - s.flagged.length;
    blocks.push(section(`:warning: *Flagged accounts*\n${lines.join('\n')}${more > 0 ? `\n…and ${more} more` : ''}`, 'flagged'));
  }
  return blocks;
}

function approvalsLine(v: IncidentBatchView): string {
  const approvals = v.decisions.filter((d) => d.decision !== 'reject');
  const head = `${approvals.length} of ${v.batch.approvals_required} approval${v.batch.approvals_required === 1 ? '' : 's'}`;
  return approvals.length ? `${head}: ${approvals.map((a) => `${mentionUser(a.approver_id)} at ${formatInstant(a.decided_at)}`).join(', ')}` : head;
}

/** The approval request: the facts, then Approve all / Approve all except flagged / Reject. */
export function incidentApprovalMessage(v: IncidentBatchView): SlackMessage {
  const s = v.batch.summary;
  const value = incidentButtonValue(v.batch.id);
  const approveAll: Button = {
    type: 'button',
    action_id: ACTION_INCIDENT_APPROVE_ALL,
    text: plain(`Approve all ${s.accounts}`, SLACK_LIMITS.buttonText),
    style: 'primary',
    value,
  };
  if (s.flagged_count) {
    approveAll.confirm = {
      title: plain('Approve flagged credits too?', SLACK_LIMITS.confirmTitle),
      text: plain(`${s.flagged_count} of ${s.accounts} credits are flagged by risk rules. Approve them all in one go?`, SLACK_LIMITS.confirmText),
      confirm: plain('Approve all', SLACK_LIMITS.confirmButton),
      deny: plain('Back', SLACK_LIMITS.confirmButton),
    };
  }
  const buttons: Button[] = [approveAll];
  if (s.flagged_count) {
    buttons.push({
      type: 'button',
      action_id: ACTION_INCIDENT_APPROVE_UNFLAGGED,
      text: plain(`Approve all except ${s.flagged_count} flagged`, SLACK_LIMITS.buttonText),
      value,
    });
  }
  buttons.push({ type: 'button', action_id: ACTION_INCIDENT_REJECT, text: plain('Reject…', SLACK_LIMITS.buttonText), style: 'danger', value });
  const blocks: KnownBlock[] = [
    header(`Approval needed: incident credits for ${s.accounts} account${s.accounts === 1 ? '' : 's'}`),
    ...factBlocks(v),
    context(approvalsLine(v), `Batch ${code(v.batch.id)} · ${s.flagged_count ? 'flagged credits can go to individual approval' : 'no credit is flagged'}`),
    { type: 'actions', block_id: INCIDENT_ACTIONS_BLOCK_ID, elements: buttons },
  ];
  const text = clip(
    `Approval needed: incident ${esc(v.incident.reference, 200)} credits for ${s.accounts} accounts (${s.totals.map(fmt).join(', ')}).`,
    SLACK_LIMITS.fallbackText,
  );
  return { text, blocks: blocks.slice(0, SLACK_LIMITS.messageBlocks) };
}

const OUTCOME: Record<string, string> = {
  approved: ':white_check_mark: Approved',
  approved_unflagged: ':white_check_mark: Approved except flagged credits (sent to individual approval)',
  rejected: ':no_entry: Rejected',
};

/** States shown in the progress line, in lifecycle order. */
const PROGRESS_ORDER = ['pending_approval', 'approved', 'scheduled', 'applying', 'applied', 'confirmed', 'closed', 'failed', 'rejected', 'cancelled'];

/** The decided message: who decided, then how far the credits have got (refreshed while they are applied). */
export function incidentDecidedMessage(
  v: IncidentBatchView & { readonly counts: Readonly<Record<string, number>>; readonly failed: readonly string[] },
): SlackMessage {
  const s = v.batch.summary;
  const decided = v.decisions.filter((d) => (v.batch.status === 'rejected' ? d.decision === 'reject' : d.decision !== 'reject'));
  const who = decided.map((d) => mentionUser(d.approver_id)).join(' and ');
  const when = v.batch.decided_at ? ` at ${formatInstant(v.batch.decided_at)}` : '';
  const reason = v.batch.reason ? `\n*Reason:* ${esc(v.batch.reason, 1500)}` : '';
  const progress = PROGRESS_ORDER.filter((st) => v.counts[st]).map((st) => `${st.replace('_', ' ')} ${v.counts[st]}`);
  const done = (v.counts.confirmed ?? 0) + (v.counts.closed ?? 0);
  const blocks: KnownBlock[] = [
    header(`Incident credits for ${s.accounts} account${s.accounts === 1 ? '' : 's'}: ${v.batch.status === 'rejected' ? 'rejected' : 'approved'}`),
    section(`${OUTCOME[v.batch.status] ?? v.batch.status} by ${who || 'nobody'}${when}.${reason}`, 'outcome'),
    ...factBlocks(v),
  ];
  if (v.batch.status !== 'rejected') {
    blocks.push(section(`*Progress* ${done} of ${s.accounts} credited and emailed\n${progress.join(' · ') || 'nothing yet'}`, 'progress'));
    if (v.failed.length) {
      const more = (v.counts.failed ?? 0) - v.failed.length;
      blocks.push(
        section(
          `:warning: *Failed* (each can be retried alone: \`lifecycle-desk incidents retry ${esc(v.incident.reference, 200)} ACCOUNT\`)\n${v.failed.map((a) => `• ${code(a)}`).join('\n')}${more > 0 ? `\n…and ${more} more` : ''}`,
          'failed',
        ),
      );
    }
  }
  blocks.push(context(`Batch ${code(v.batch.id)}`));
  const text = clip(
    `Incident ${esc(v.incident.reference, 200)} credits ${v.batch.status === 'rejected' ? 'rejected' : `approved: ${done} of ${s.accounts} done`}.`,
    SLACK_LIMITS.fallbackText,
  );
  return { text, blocks: blocks.slice(0, SLACK_LIMITS.messageBlocks) };
}

export interface IncidentRejectMeta {
  readonly batch_id: string;
  readonly channel: string;
}

export function incidentRejectModal(meta: IncidentRejectMeta): ModalView {
  return {
    type: 'modal',
    callback_id: INCIDENT_REJECT_MODAL_CALLBACK_ID,
    private_metadata: JSON.stringify(meta),
    title: plain('Reject credits', SLACK_LIMITS.modalTitle),
    submit: plain('Reject all', SLACK_LIMITS.modalButton),
    close: plain('Cancel', SLACK_LIMITS.modalButton),
    blocks: [
      section('Every credit of this batch still waiting is rejected with this reason. Customers are not emailed.'),
      {
        type: 'input',
        block_id: INCIDENT_REASON_BLOCK_ID,
        label: plain('Reason', 2000),
        optional: false,
        element: {
          type: 'plain_text_input',
          action_id: INCIDENT_REASON_ACTION_ID,
          multiline: true,
          min_length: 1,
          max_length: 2000,
          placeholder: plain('Why are these credits rejected?', 150),
        },
      },
    ],
  };
}

export function parseIncidentRejectMeta(raw: unknown): IncidentRejectMeta | null {
  if (typeof raw !== 'string') return null;
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    return typeof v.batch_id === 'string' && typeof v.channel === 'string' ? { batch_id: v.batch_id, channel: v.channel } : null;
  } catch {
    return null;
  }
}
