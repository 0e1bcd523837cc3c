import type { types as SlackTypes } from '@slack/bolt';
import type { LifecycleRecord } from '../../records/kinds';
import { formatMoney } from '../../records/money';
import { lowerableAmount } from '../../records/partial-approval';
import { RESOLUTION_LABELS, RESOLUTION_OUTCOMES } from '../../records/disputes';
import { previewSentence, providerLabel } from '../../records/risk';
import { recordView } from '../../records/summary';
import type { MoneyLine } from '../../records/summary';
import type { Money } from '../../records/money';

/**
 * Block Kit builders for the approval flow. Pure: no clock, no I/O, no Slack client. Every piece
 * of text that came from a ticket, an agent or a customer goes through `escapeMrkdwn`, and every
 * mrkdwn object is `verbatim`, so a customer called "<!channel>" cannot ping a channel, forge a
 * link or a mention. Slack's size limits are enforced here, so a long reason never makes Slack
 * refuse the whole message.
 */

type KnownBlock = SlackTypes.KnownBlock;
type SectionBlock = SlackTypes.SectionBlock;
type ContextBlock = SlackTypes.ContextBlock;
type HeaderBlock = SlackTypes.HeaderBlock;
type ActionsBlock = SlackTypes.ActionsBlock;
type Button = SlackTypes.Button;
type MrkdwnElement = SlackTypes.MrkdwnElement;
type PlainTextElement = SlackTypes.PlainTextElement;
type ModalView = SlackTypes.ModalView;
type HomeView = SlackTypes.HomeView;

/** What a builder hands to `chat.postMessage` / `chat.update` / `respond()`. */
export interface SlackMessage {
  /** Notification and accessibility fallback; Slack shows it where blocks cannot be rendered. */
  readonly text: string;
  readonly blocks: KnownBlock[];
}

export const ACTION_APPROVE = 'approval_approve';
export const ACTION_REJECT = 'approval_reject';
export const APPROVAL_ACTIONS_BLOCK_ID = 'approval_actions';
export const REJECT_MODAL_CALLBACK_ID = 'approval_reject_modal';
export const REJECT_REASON_BLOCK_ID = 'reason';
export const REJECT_REASON_ACTION_ID = 'reason_input';
export const REJECT_REASON_MAX_LENGTH = 2000;
/** Partial approval: approve with a lower credit or fee, in a modal asking for the amount and a reason. */
export const ACTION_APPROVE_PARTIAL = 'approval_approve_partial';
export const PARTIAL_MODAL_CALLBACK_ID = 'approval_partial_modal';
export const PARTIAL_AMOUNT_BLOCK_ID = 'amount';
export const PARTIAL_AMOUNT_ACTION_ID = 'amount_input';
/** On the finished approval message: supervisors dispute an applied change, or resolve a dispute. */
export const ACTION_DISPUTE_RESOLVE = 'record_dispute_resolve';
export const DISPUTE_ACTIONS_BLOCK_ID = 'dispute_actions';
export const DISPUTE_MODAL_CALLBACK_ID = 'record_dispute_modal';
export const RESOLVE_MODAL_CALLBACK_ID = 'record_resolve_modal';
export const DOCUMENTS_BLOCK_ID = 'documents';
export const DOCUMENTS_ACTION_ID = 'documents_input';
export const OUTCOME_BLOCK_ID = 'outcome';
export const OUTCOME_ACTION_ID = 'outcome_select';

/** Slack's published Block Kit limits (docs.slack.dev/reference/block-kit). */
export const SLACK_LIMITS = {
  messageBlocks: 50,
  viewBlocks: 100,
  sectionText: 3000,
  sectionField: 2000,
  sectionFields: 10,
  headerText: 150,
  contextElements: 10,
  actionsElements: 25,
  buttonText: 75,
  actionId: 255,
  buttonValue: 2000,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  modalTitle: 24,
  modalButton: 24,
  privateMetadata: 3000,
  /** chat.postMessage truncates `text` beyond 40,000; we keep fallbacks far shorter. */
  fallbackText: 3000,
} as const;

/** Pending approvals shown on the App Home tab before "and N more" (2 blocks each + header + footer ≤ 100). */
export const HOME_MAX_ITEMS = 40;
/** Records listed by `/lifecycle` before "and N more" (ephemeral messages allow 50 blocks). */
export const SUMMARY_MAX_RECORDS = 20;

// ---------------------------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------------------------

/** Escapes Slack's three control characters so user text renders literally (api.slack.com formatting#escaping). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Cuts `text` to at most `max` UTF-16 units (Slack counts characters; code units are never fewer),
 * never inside a surrogate pair, an `&amp;`-style entity or a `<…>` link/mention we built.
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const ellipsis = '…';
  let cut = text.slice(0, Math.max(0, max - ellipsis.length));
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  cut = cut.replace(/&[a-z]{0,4}$/, '');
  const open = cut.lastIndexOf('<');
  if (open > cut.lastIndexOf('>')) cut = cut.slice(0, open);
  return cut + ellipsis;
}

/** Escaped user text, capped before escaping so entities never push a field over its limit. */
const esc = (text: string, max = 1000): string => escapeMrkdwn(clip(text, max));

/** Inline code; a backtick inside would end the span early, so it is swapped for a look-alike. */
const code = (text: string, max = 200): string => '`' + esc(text, max).replace(/`/g, 'ʹ') + '`';

const mrkdwn = (text: string, max: number = SLACK_LIMITS.sectionText): MrkdwnElement => ({
  type: 'mrkdwn',
  text: clip(text, max) || ' ',
  verbatim: true,
});
const plain = (text: string, max: number): PlainTextElement => ({ type: 'plain_text', text: clip(text, max) || ' ', emoji: true });

const section = (text: string, blockId?: string): SectionBlock => ({
  type: 'section',
  ...(blockId ? { block_id: blockId } : {}),
  text: mrkdwn(text),
});
const fieldsSection = (fields: string[]): SectionBlock => ({
  type: 'section',
  fields: fields.slice(0, SLACK_LIMITS.sectionFields).map((f) => mrkdwn(f, SLACK_LIMITS.sectionField)),
});
const context = (...texts: string[]): ContextBlock => ({
  type: 'context',
  elements: texts.slice(0, SLACK_LIMITS.contextElements).map((t) => mrkdwn(t)),
});
const header = (text: string): HeaderBlock => ({ type: 'header', text: plain(text, SLACK_LIMITS.headerText) });
const divider = (): KnownBlock => ({ type: 'divider' });

/** `<@U123>` for a Slack user id; anything else is shown literally (never as a mention). */
export function mentionUser(userId: string): string {
  return /^[UW][A-Z0-9]+$/.test(userId) ? `<@${userId}>` : esc(userId, 100);
}

/** Only well-formed group/user/special mentions from configuration are emitted as mentions. */
function trustedMention(mention: string): string {
  const ok = /^<!subteam\^[A-Z0-9]+(?:\|[^<>|]{1,100})?>$/.test(mention) || /^<@[UW][A-Z0-9]+>$/.test(mention) || /^<!(?:here|channel)>$/.test(mention);
  return ok ? mention : esc(mention, 100);
}

/** "<@U1>", "<@U1> and <@U2>", "<@U1>, <@U2> and <@U3>". */
function joinUsers(userIds: readonly string[]): string {
  const names = userIds.map(mentionUser);
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/** "2026-03-16 12:00 UTC" for an ISO instant; unparseable input is shown escaped as given. */
export function formatInstant(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return esc(iso, 100);
  const s = new Date(ms).toISOString();
  return `${s.slice(0, 10)} ${s.slice(11, 16)} UTC`;
}

const formatDay = (iso: string): string => {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? esc(iso, 100) : new Date(ms).toISOString().slice(0, 10);
};

/** A link to an http(s) URL; anything else is not linked. `|` and `>` would end Slack's link syntax. */
function link(url: string | null | undefined, label: string): string | null {
  if (!url || !/^https?:\/\/[^\s]+$/i.test(url) || url.length > 2000) return null;
  const safe = url.replace(/&/g, '&amp;').replace(/</g, '%3C').replace(/>/g, '%3E').replace(/\|/g, '%7C');
  return `<${safe}|${label}>`;
}

/** "Service credit (sla breach)": the neutral summary's title. */
const kindLabel = (r: LifecycleRecord): string => recordView(r).title;

// ---------------------------------------------------------------------------------------------
// Money and facts
// ---------------------------------------------------------------------------------------------

const isMoney = (v: unknown): v is Money =>
  typeof v === 'object' && v !== null && Number.isSafeInteger((v as Money).amount_minor) && typeof (v as Money).currency === 'string';

/** Formatted in the money's own currency ("€12.34", "¥500"); an unknown code is shown, not thrown. */
function fmt(m: Money): string {
  try {
    return formatMoney(m);
  } catch {
    return `${m.amount_minor} ${esc(m.currency, 10)} (minor units)`;
  }
}

const abs = (m: Money): Money => ({ ...m, amount_minor: Math.abs(m.amount_minor) });

/** Net impact on the customer: positive amounts are charges, negative ones credits. */
export function moneyImpact(amount: Money | null): string {
  if (!amount || !isMoney(amount)) return 'No money impact recorded';
  if (amount.amount_minor === 0) return `No charge (${fmt(amount)})`;
  return amount.amount_minor < 0 ? `Credit of ${fmt(abs(amount))} to the customer` : `Customer pays ${fmt(amount)}`;
}

const signed = (m: Money): string => (m.amount_minor > 0 ? `+${fmt(m)}` : m.amount_minor < 0 ? `−${fmt(abs(m))}` : fmt(m));

/** One of the kind's money lines, in mrkdwn: labels are ours, values from a record are escaped. */
function moneyLine(l: MoneyLine): string {
  const label = `${l.label}${l.qualifier ? ` (*${esc(l.qualifier, 50)}*)` : ''}`;
  const value = l.value === undefined ? null : l.strong ? `*${esc(l.value, 50)}*` : esc(l.value, 50);
  const amount = l.money && isMoney(l.money) ? (l.signed ? signed(l.money) : fmt(l.money)) : null;
  return `${label}: ${[value, amount].filter((x) => x !== null).join(' ')}`;
}

/** Kind-specific money lines a supervisor needs to judge the amount (requested vs computed credit…). */
function moneyDetails(r: LifecycleRecord): string[] {
  return recordView(r).money_lines.map(moneyLine);
}

function effectiveText(r: LifecycleRecord): string {
  const at = r.effective_at ? ` (${formatDay(r.effective_at)})` : '';
  if (r.effective === 'immediate') return `Immediately${at}`;
  if (r.effective === 'end_of_term') return `End of the current term${at}`;
  if (r.effective) return esc(r.effective, 40);
  return r.effective_at ? formatDay(r.effective_at) : 'Not set';
}

function customerText(r: LifecycleRecord, accountName: string | null): string {
  return accountName ? `${esc(accountName, 200)} ${code(r.account_id)}` : code(r.account_id);
}

function requesterText(r: LifecycleRecord): string {
  if (!r.requester) return 'Unknown';
  const email = esc(r.requester.email, 320);
  return r.requester.name ? `${esc(r.requester.name, 200)} (${email})` : email;
}

function ticketText(r: LifecycleRecord, ticketUrl: string | null): string {
  const label = r.ticket_id ? `Zendesk ticket #${esc(r.ticket_id, 50)}` : 'Zendesk ticket';
  return link(ticketUrl, label) ?? (r.ticket_id ? label : 'No Zendesk ticket');
}

/** What the record changes: the neutral summary's line (total: an unknown currency does not stop the message). */
const changeLine = (r: LifecycleRecord): string => recordView(r).change;

/** The facts every supervisor sees, on the request and on the decided message alike. */
function factBlocks(r: LifecycleRecord, accountName: string | null, ticketUrl: string | null): KnownBlock[] {
  const blocks: KnownBlock[] = [
    fieldsSection([
      `*Customer*\n${customerText(r, accountName)}`,
      `*Requester*\n${requesterText(r)}`,
      `*Money impact*\n${moneyImpact(r.amount)}`,
      `*Effective*\n${effectiveText(r)}`,
      `*Requested by*\n${esc(r.requested_by, 200)}`,
      `*Ticket*\n${ticketText(r, ticketUrl)}`,
    ]),
    section(`*What changes*\n${esc(changeLine(r), 2000)}`, 'change'),
  ];
  const money = moneyDetails(r);
  if (money.length) blocks.push(section(money.map((l) => `• ${l}`).join('\n'), 'money'));
  const reason = r.reason_text.trim();
  blocks.push(section(`*Reason* ${code(r.reason_code, 100)}${reason ? `\n${esc(reason, 2500)}` : ''}`, 'reason'));
  return blocks;
}

function riskBlocks(r: LifecycleRecord, explanations: readonly { flag: string; message: string }[]): KnownBlock[] {
  const flags = [...new Set([...r.risk_flags, ...explanations.map((e) => e.flag)])];
  if (!flags.length) return [context(':white_check_mark: No risk flags')];
  const lines = flags.map((flag) => {
    const why = explanations.filter((e) => e.flag === flag).map((e) => e.message);
    return `• *${esc(flag, 100)}*${why.length ? `: ${esc(why.join(' '), 400)}` : ''}`;
  });
  return [section(`:warning: *${flags.length} risk flag${flags.length === 1 ? '' : 's'}: check before approving*\n${lines.join('\n')}`, 'risk')];
}

// ---------------------------------------------------------------------------------------------
// Approval request
// ---------------------------------------------------------------------------------------------

export interface ApprovalView {
  readonly record: LifecycleRecord;
  readonly accountName: string | null;
  readonly ticketUrl: string | null;
  readonly riskExplanations: readonly { flag: string; message: string }[];
  readonly approvalsRequired: number;
  /** Approvals recorded so far (for two-approver rules). */
  readonly approvals: readonly { user_id: string; at: string }[];
  /** Re-posted because the request waited past the policy's reminder limit. */
  readonly reminder?: boolean;
  /** Escalation group or user, e.g. `<!subteam^S123>`; only well-formed mentions are emitted. */
  readonly escalationMention?: string;
  /** The billing provider's own figure, taken before approval, shown beside Lifecycle Desk's. */
  readonly preview?: ApprovalPreview | null;
}

/** What the provider previewed (see `BillingPreview`), as the approval message shows it. */
export interface ApprovalPreview {
  readonly provider: string;
  readonly amount: Money | null;
  readonly computed: Money | null;
  readonly outstanding?: Money | null;
  readonly unavailable?: string | null;
}

/** "Stripe will invoice €42.10; Lifecycle Desk computed €42.10", and what the customer owes there. */
export function previewLines(p: ApprovalPreview): string[] {
  const lines: string[] = [];
  const sentence = previewSentence(p);
  if (sentence) lines.push(esc(sentence, 500));
  if (p.outstanding && isMoney(p.outstanding)) lines.push(`Outstanding balance at ${esc(providerLabel(p.provider), 50)}: ${fmt(p.outstanding)}`);
  if (p.unavailable) lines.push(`${esc(providerLabel(p.provider), 50)} could not preview this change: ${esc(p.unavailable, 300)}`);
  return lines;
}

/** What the Approve/Reject buttons carry: the record and the version the message was built from. */
export interface ApprovalButtonValue {
  readonly record_id: string;
  readonly version: number;
}

export function approvalButtonValue(record: Pick<LifecycleRecord, 'id' | 'version'>): string {
  const value = JSON.stringify({ record_id: record.id, version: record.version } satisfies ApprovalButtonValue);
  if (value.length > SLACK_LIMITS.buttonValue) throw new RangeError(`record id too long for a Slack button value (${value.length} > 2000)`);
  return value;
}

/** Parses a button `value` from a block_actions payload; null when it is not ours or malformed. */
export function parseApprovalButtonValue(value: unknown): ApprovalButtonValue | null {
  if (typeof value !== 'string') return null;
  try {
    const v = JSON.parse(value) as Record<string, unknown>;
    if (typeof v.record_id === 'string' && v.record_id && Number.isSafeInteger(v.version) && (v.version as number) >= 0) {
      return { record_id: v.record_id, version: v.version as number };
    }
  } catch {
    // fall through: not JSON, not ours
  }
  return null;
}

function approvalsLine(approvals: readonly { user_id: string; at: string }[], required: number): string {
  const head = `${approvals.length} of ${required} approval${required === 1 ? '' : 's'}`;
  if (!approvals.length) return head;
  return `${head}: ${approvals.map((a) => `${mentionUser(a.user_id)} at ${formatInstant(a.at)}`).join(', ')}`;
}

function approvalActions(input: ApprovalView): ActionsBlock {
  const value = approvalButtonValue(input.record);
  const flags = input.record.risk_flags.length;
  const approve: Button = {
    type: 'button',
    action_id: ACTION_APPROVE,
    text: plain('Approve', SLACK_LIMITS.buttonText),
    style: 'primary',
    value,
  };
  // One click for ordinary requests (the issue asks for it); a flagged request asks once more,
  // so a risk warning cannot be approved past without being seen.
  if (flags > 0) {
    approve.confirm = {
      title: plain('Approve a flagged request?', SLACK_LIMITS.confirmTitle),
      text: plain(
        `${flags} risk flag${flags === 1 ? '' : 's'}: ${input.record.risk_flags.join(', ')}. ${stripMrkdwn(moneyImpact(input.record.amount))}.`,
        SLACK_LIMITS.confirmText,
      ),
      confirm: plain('Approve', SLACK_LIMITS.confirmButton),
      deny: plain('Back', SLACK_LIMITS.confirmButton),
    };
  }
  const reject: Button = {
    type: 'button',
    action_id: ACTION_REJECT,
    text: plain('Reject…', SLACK_LIMITS.buttonText),
    style: 'danger',
    value,
  };
  const lowerable = lowerableAmount(input.record);
  const partial: Button[] = lowerable
    ? [
        {
          type: 'button',
          action_id: ACTION_APPROVE_PARTIAL,
          text: plain(lowerable.what === 'credit' ? 'Approve a lower credit…' : 'Approve a lower fee…', SLACK_LIMITS.buttonText),
          value,
        },
      ]
    : [];
  return { type: 'actions', block_id: APPROVAL_ACTIONS_BLOCK_ID, elements: [approve, reject, ...partial] };
}

const stripMrkdwn = (s: string): string => s.replace(/[*_`]/g, '');

/** One-line fallback text (notifications, screen readers): escaped, since `text` is parsed as mrkdwn too. */
function summaryText(prefix: string, r: LifecycleRecord, accountName: string | null): string {
  const who = accountName ? `${esc(accountName, 200)} (${esc(r.account_id, 200)})` : esc(r.account_id, 200);
  return clip(`${prefix}: ${kindLabel(r)} for ${who}. ${moneyImpact(r.amount)}.`, SLACK_LIMITS.fallbackText);
}

/** The message posted to the approval channel (and re-posted as a reminder or escalation). */
export function approvalRequestMessage(input: ApprovalView): SlackMessage {
  const r = input.record;
  const prefix = input.reminder ? 'Reminder: approval needed' : 'Approval needed';
  const blocks: KnownBlock[] = [header(`${prefix}: ${r.reverses_record_id ? 'reversal of ' : ''}${kindLabel(r)}`)];
  if (r.reverses_record_id) {
    blocks.push(
      section(
        `:leftwards_arrow_with_hook: *Reversal* of record ${code(r.reverses_record_id)}: approving it undoes that change (the facts below are the original's; the amount is what is taken back).`,
        'reversal',
      ),
    );
  }
  const mention = input.escalationMention ? trustedMention(input.escalationMention) : null;
  if (mention) {
    blocks.push(section(`:rotating_light: ${mention} this request has waited past the escalation limit and needs a decision.`, 'escalation'));
  } else if (input.reminder) {
    blocks.push(section(':alarm_clock: This request is still waiting for a decision.', 'reminder'));
  }
  blocks.push(...factBlocks(r, input.accountName, input.ticketUrl));
  const preview = input.preview ? previewLines(input.preview) : [];
  if (preview.length) blocks.push(section(`*Billing preview*\n${preview.join('\n')}`, 'preview'));
  blocks.push(...riskBlocks(r, input.riskExplanations));
  blocks.push(context(approvalsLine(input.approvals, input.approvalsRequired), `Record ${code(r.id)} · version ${r.version}`));
  blocks.push(approvalActions(input));
  const text = summaryText(mention ? `${mention} ${prefix}` : prefix, r, input.accountName);
  return { text, blocks: blocks.slice(0, SLACK_LIMITS.messageBlocks) };
}

// ---------------------------------------------------------------------------------------------
// Decision (the request message after chat.update)
// ---------------------------------------------------------------------------------------------

export type DecisionOutcomeKind = 'approved' | 'rejected' | 'cancelled' | 'changed';

export interface DecisionView {
  readonly record: LifecycleRecord;
  readonly accountName: string | null;
  readonly ticketUrl: string | null;
  readonly outcome: DecisionOutcomeKind;
  /** Slack user ids of the deciders, in order; empty for system outcomes. */
  readonly decidedBy: readonly string[];
  readonly decidedAt: string;
  /** Rejection reason, or why a request was cancelled or changed. */
  readonly reason?: string;
}

const OUTCOME: Record<DecisionOutcomeKind, { emoji: string; word: string; title: string }> = {
  approved: { emoji: ':white_check_mark:', word: 'Approved', title: 'Approved' },
  rejected: { emoji: ':x:', word: 'Rejected', title: 'Rejected' },
  cancelled: { emoji: ':no_entry_sign:', word: 'Cancelled', title: 'Cancelled' },
  changed: { emoji: ':arrows_counterclockwise:', word: 'Changed since this was posted', title: 'Changed' },
};

/** "Approved by <@U1> and <@U2> at 2026-03-16 12:00 UTC", "Rejected by <@U1> at …: reason". */
export function outcomeLine(input: Pick<DecisionView, 'outcome' | 'decidedBy' | 'decidedAt' | 'reason'>): string {
  const o = OUTCOME[input.outcome];
  const by = input.decidedBy.length ? ` by ${joinUsers(input.decidedBy)}` : '';
  const reason = input.reason?.trim() ? `: ${esc(input.reason.trim(), 2000)}` : '';
  return `${o.word}${by} at ${formatInstant(input.decidedAt)}${reason}`;
}

/** The request message once decided: same facts, outcome on top, no buttons. */
export function decisionMessage(input: DecisionView): SlackMessage {
  const r = input.record;
  const o = OUTCOME[input.outcome];
  const line = outcomeLine(input);
  const blocks: KnownBlock[] = [
    header(`${o.title}: ${kindLabel(r)}`),
    section(`${o.emoji} ${line}`, 'outcome'),
    ...factBlocks(r, input.accountName, input.ticketUrl),
  ];
  if (r.risk_flags.length) blocks.push(context(`Risk flags at decision: ${r.risk_flags.map((f) => esc(f, 100)).join(', ')}`));
  if (r.state === 'disputed') blocks.push(section(':warning: *Disputed.* A supervisor decides the dispute with the button below.', 'dispute'));
  if (r.state === 'resolved') blocks.push(section(':scales: *Dispute resolved.* See the record for the outcome.', 'dispute'));
  blocks.push(context(`Record ${code(r.id)} · version ${r.version}`));
  // An approved change may later be disputed, and a dispute resolved: one button, whose modal
  // follows the record's state when it is clicked (the message may be older than the record).
  if (input.outcome === 'approved' && r.state !== 'resolved') {
    blocks.push({
      type: 'actions',
      block_id: DISPUTE_ACTIONS_BLOCK_ID,
      elements: [
        {
          type: 'button',
          action_id: ACTION_DISPUTE_RESOLVE,
          text: plain(r.state === 'disputed' ? 'Resolve dispute…' : 'Dispute…', SLACK_LIMITS.buttonText),
          value: approvalButtonValue(r),
        },
      ],
    });
  }
  const who = input.accountName ? esc(input.accountName, 200) : esc(r.account_id, 200);
  return { text: clip(`${kindLabel(r)} for ${who}: ${line}`, SLACK_LIMITS.fallbackText), blocks };
}

// ---------------------------------------------------------------------------------------------
// Reject modal
// ---------------------------------------------------------------------------------------------

/** Carried through the modal so the submission knows which message and version it answers. */
export interface RejectModalMeta {
  readonly record_id: string;
  readonly version: number;
  readonly channel: string;
  readonly message_ts: string;
}

export function rejectReasonModal(meta: RejectModalMeta): ModalView {
  const privateMetadata = JSON.stringify({
    record_id: meta.record_id,
    version: meta.version,
    channel: meta.channel,
    message_ts: meta.message_ts,
  } satisfies RejectModalMeta);
  if (privateMetadata.length > SLACK_LIMITS.privateMetadata) throw new RangeError('reject modal metadata exceeds 3000 characters');
  return {
    type: 'modal',
    callback_id: REJECT_MODAL_CALLBACK_ID,
    private_metadata: privateMetadata,
    title: plain('Reject request', SLACK_LIMITS.modalTitle),
    submit: plain('Reject', SLACK_LIMITS.modalButton),
    close: plain('Cancel', SLACK_LIMITS.modalButton),
    blocks: [
      section('The requesting agent sees this reason on the Zendesk ticket. Say what would make the request acceptable.'),
      {
        type: 'input',
        block_id: REJECT_REASON_BLOCK_ID,
        label: plain('Reason', 2000),
        optional: false,
        element: {
          type: 'plain_text_input',
          action_id: REJECT_REASON_ACTION_ID,
          multiline: true,
          min_length: 1,
          max_length: REJECT_REASON_MAX_LENGTH,
          placeholder: plain('Why is this request rejected?', 150),
        },
      },
    ],
  };
}

/**
 * Partial approval: the approver types the amount they approve (lower than requested, above zero)
 * and why. The same metadata as the reject modal says which message and version it answers.
 */
export function partialApprovalModal(meta: RejectModalMeta, record: LifecycleRecord): ModalView {
  const lowerable = lowerableAmount(record);
  const what = lowerable?.what === 'fee' ? 'early-termination fee' : 'credit';
  const requested = lowerable ? formatMoney(lowerable.amount) : 'the amount requested';
  const currency = lowerable?.amount.currency ?? record.amount?.currency ?? '';
  return {
    type: 'modal',
    callback_id: PARTIAL_MODAL_CALLBACK_ID,
    private_metadata: rejectReasonModal(meta).private_metadata!,
    title: plain(lowerable?.what === 'fee' ? 'Approve a lower fee' : 'Approve a lower credit', SLACK_LIMITS.modalTitle),
    submit: plain('Approve', SLACK_LIMITS.modalButton),
    close: plain('Cancel', SLACK_LIMITS.modalButton),
    blocks: [
      section(
        `The request asks for a ${what} of *${esc(requested, 100)}*. Approve a lower amount: billing applies the amount you enter and the customer's email states it. The requested amount stays in the audit trail.`,
      ),
      {
        type: 'input',
        block_id: PARTIAL_AMOUNT_BLOCK_ID,
        label: plain(`Approved ${what} (${currency})`, 2000),
        optional: false,
        element: { type: 'plain_text_input', action_id: PARTIAL_AMOUNT_ACTION_ID, max_length: 20, placeholder: plain('e.g. 12.50', 150) },
      },
      {
        type: 'input',
        block_id: REJECT_REASON_BLOCK_ID,
        label: plain('Reason', 2000),
        optional: false,
        element: {
          type: 'plain_text_input',
          action_id: REJECT_REASON_ACTION_ID,
          multiline: true,
          min_length: 1,
          max_length: REJECT_REASON_MAX_LENGTH,
          placeholder: plain('Why is a lower amount approved?', 150),
        },
      },
    ],
  };
}

/** Opens a dispute on an applied change: the reason, and documents by reference (one per line). */
export function disputeModal(meta: RejectModalMeta, record: LifecycleRecord): ModalView {
  return {
    type: 'modal',
    callback_id: DISPUTE_MODAL_CALLBACK_ID,
    private_metadata: rejectReasonModal(meta).private_metadata!,
    title: plain('Dispute this change', SLACK_LIMITS.modalTitle),
    submit: plain('Open dispute', SLACK_LIMITS.modalButton),
    close: plain('Cancel', SLACK_LIMITS.modalButton),
    blocks: [
      section(`Open a dispute on this ${esc(kindLabel(record).toLowerCase(), 200)}. A supervisor then resolves it: upheld, adjusted or reversed.`),
      {
        type: 'input',
        block_id: REJECT_REASON_BLOCK_ID,
        label: plain('What does the customer dispute?', 2000),
        optional: false,
        element: { type: 'plain_text_input', action_id: REJECT_REASON_ACTION_ID, multiline: true, min_length: 1, max_length: REJECT_REASON_MAX_LENGTH },
      },
      {
        type: 'input',
        block_id: DOCUMENTS_BLOCK_ID,
        label: plain('Documents (optional)', 2000),
        hint: plain('One per line: a Zendesk attachment id, or an https link to where the document is kept. Never paste the document itself.', 2000),
        optional: true,
        element: { type: 'plain_text_input', action_id: DOCUMENTS_ACTION_ID, multiline: true, max_length: 3000 },
      },
    ],
  };
}

/** Decides a dispute: the outcome and why (the customer is emailed both). */
export function resolveModal(meta: RejectModalMeta, record: LifecycleRecord): ModalView {
  const option = (o: (typeof RESOLUTION_OUTCOMES)[number]) => ({ text: plain(RESOLUTION_LABELS[o], 75), value: o });
  return {
    type: 'modal',
    callback_id: RESOLVE_MODAL_CALLBACK_ID,
    private_metadata: rejectReasonModal(meta).private_metadata!,
    title: plain('Resolve the dispute', SLACK_LIMITS.modalTitle),
    submit: plain('Resolve', SLACK_LIMITS.modalButton),
    close: plain('Cancel', SLACK_LIMITS.modalButton),
    blocks: [
      section(`Decide the dispute on this ${esc(kindLabel(record).toLowerCase(), 200)}. The customer is emailed the outcome and the reason.`),
      {
        type: 'input',
        block_id: OUTCOME_BLOCK_ID,
        label: plain('Outcome', 2000),
        optional: false,
        element: { type: 'static_select', action_id: OUTCOME_ACTION_ID, options: RESOLUTION_OUTCOMES.map(option) },
      },
      {
        type: 'input',
        block_id: REJECT_REASON_BLOCK_ID,
        label: plain('Reason (the customer reads it)', 2000),
        optional: false,
        element: { type: 'plain_text_input', action_id: REJECT_REASON_ACTION_ID, multiline: true, min_length: 1, max_length: REJECT_REASON_MAX_LENGTH },
      },
    ],
  };
}

/** Parses `view.private_metadata` from a view_submission; null when it is not ours or malformed. */
export function parseRejectModalMeta(privateMetadata: unknown): RejectModalMeta | null {
  if (typeof privateMetadata !== 'string') return null;
  try {
    const v = JSON.parse(privateMetadata) as Record<string, unknown>;
    if (
      typeof v.record_id === 'string' &&
      v.record_id &&
      Number.isSafeInteger(v.version) &&
      typeof v.channel === 'string' &&
      typeof v.message_ts === 'string'
    ) {
      return { record_id: v.record_id, version: v.version as number, channel: v.channel, message_ts: v.message_ts };
    }
  } catch {
    // not ours
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// App Home and /lifecycle
// ---------------------------------------------------------------------------------------------

export interface PendingApprovalItem {
  readonly record: LifecycleRecord;
  readonly accountName: string | null;
  readonly ticketUrl: string | null;
  readonly approvals: number;
  readonly approvalsRequired: number;
  /** Permalink of the approval message (chat.getPermalink), where the buttons are. */
  readonly messageLink?: string | null;
}

/** The viewer's App Home tab: pending approvals, capped so the view stays under 100 blocks. */
export function appHomeView(pending: readonly PendingApprovalItem[]): HomeView {
  const blocks: KnownBlock[] = [header(pending.length ? `Waiting for your approval (${pending.length})` : 'Waiting for your approval')];
  if (!pending.length) {
    blocks.push(section(':tada: Nothing is waiting for your approval.', 'empty'));
    return { type: 'home', blocks };
  }
  for (const item of pending.slice(0, HOME_MAX_ITEMS)) {
    const r = item.record;
    const where = [
      `${item.approvals} of ${item.approvalsRequired} approval${item.approvalsRequired === 1 ? '' : 's'}`,
      ticketText(r, item.ticketUrl),
      link(item.messageLink, 'Open the request to decide'),
    ].filter((s): s is string => Boolean(s));
    const flags = r.risk_flags.length ? `\n:warning: ${r.risk_flags.map((f) => esc(f, 100)).join(', ')}` : '';
    blocks.push(
      section(
        `*${kindLabel(r)}* for ${customerText(r, item.accountName)}\n${moneyImpact(r.amount)} · effective ${effectiveText(r)}${flags}\n${where.join(' · ')}`,
      ),
      divider(),
    );
  }
  const more = pending.length - HOME_MAX_ITEMS;
  if (more > 0) blocks.push(context(`…and ${more} more waiting. Decide the oldest first; this list refreshes as you do.`));
  return { type: 'home', blocks: blocks.slice(0, SLACK_LIMITS.viewBlocks) };
}

/** The App Home for someone who approves nothing: what their role is, or why nothing is shown. */
export function appHomeNoticeView(title: string, text: string): HomeView {
  return { type: 'home', blocks: [header(title), section(text, 'notice')] };
}

/** The ephemeral answer to `/lifecycle <account id or ticket id>`: recent records and their states. */
export function accountSummaryBlocks(title: string, records: readonly LifecycleRecord[]): SlackMessage {
  const blocks: KnownBlock[] = [section(`*${esc(title, 300)}*`, 'title')];
  if (!records.length) {
    blocks.push(section('No lifecycle records found.'));
    return { text: clip(`${esc(title, 300)}: no lifecycle records found.`, SLACK_LIMITS.fallbackText), blocks };
  }
  for (const r of records.slice(0, SUMMARY_MAX_RECORDS)) {
    const ticket = r.ticket_id ? ` · ticket #${esc(r.ticket_id, 50)}` : '';
    blocks.push(
      section(
        `*${kindLabel(r)}* · ${code(r.state, 40)} · ${isMoney(r.amount) ? moneyImpact(r.amount) : 'no amount'} · created ${formatDay(r.created_at)}\n${code(r.id)}${ticket}`,
      ),
    );
  }
  const more = records.length - SUMMARY_MAX_RECORDS;
  if (more > 0) blocks.push(context(`…and ${more} more.`));
  return {
    text: clip(`${esc(title, 300)}: ${records.length} record${records.length === 1 ? '' : 's'}.`, SLACK_LIMITS.fallbackText),
    blocks,
  };
}
