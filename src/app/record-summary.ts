import { createHash } from 'node:crypto';
import type { Account } from '../records/accounts';
import type { AuditEvent } from '../records/audit';
import { canonicalJson } from '../records/audit';
import type { BillingEffect, ConfirmedMoney } from '../records/billing';
import type { Catalog } from '../records/catalog';
import { findPlan } from '../records/catalog';
import { KIND_MODULES, KINDS } from '../records/kinds';
import type { LifecycleRecord, State } from '../records/kinds';
import { formatMoney } from '../records/money';
import type { Money } from '../records/money';
import type { ApprovalDecision, ApprovalRequest, BillingResult, StoredPreview } from '../records/ports';
import { kindLabel, recordView, stateWords, subtypeLabel } from '../records/summary';
import { AppError } from '../records/errors';

/**
 * One neutral summary of a record: what it is, what keeps it a draft, its money, risk, approvals,
 * billing outcome, customer email and timeline, plus its account. Built in one place from what the
 * database holds, as plain JSON with both amounts and the words for them, so any surface can render
 * it: the Zendesk sidebar does today; Slack, the email and the ticket note can move onto it.
 */

export interface MoneyView extends Money {
  /** "€12.34" in the money's currency. */
  readonly text: string;
}

export interface ProblemView {
  /** The request path (`details.to_plan`). */
  readonly field: string;
  readonly message: string;
  /** The ticket field it concerns ("Target plan (field 360…)"), when the field map names one. */
  readonly ticket_field: string | null;
  /** That field's name in the field map (`to_plan`), so a form can put the problem beside it. */
  readonly field_name: string | null;
}

export interface TimelineEntry {
  readonly at: string;
  readonly type: string;
  readonly words: string;
  readonly actor: { readonly role: string; readonly id: string; readonly name?: string };
}

export interface RecordSummary {
  readonly id: string;
  readonly kind: LifecycleRecord['kind'];
  readonly kind_label: string;
  readonly subtype: string;
  readonly subtype_label: string;
  readonly state: State;
  readonly state_words: string;
  readonly version: number;
  readonly account_id: string;
  readonly ticket_id: string | null;
  readonly requested_by: string;
  readonly reason_code: string;
  readonly reason_text: string;
  readonly change: string;
  readonly effective: string | null;
  readonly effective_at: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly problems: readonly ProblemView[];
  readonly money: {
    /** Net for the customer: positive they pay, negative they are credited. */
    readonly net: MoneyView | null;
    readonly price_delta: MoneyView | null;
    readonly proration: {
      readonly credit: MoneyView;
      readonly charge: MoneyView;
      readonly net: MoneyView;
      readonly period_start: string;
      readonly period_end: string;
      readonly change_at: string;
    } | null;
    readonly sla_credit: {
      readonly requested: MoneyView | null;
      readonly computed: MoneyView | null;
      readonly period_charges: MoneyView | null;
      readonly verification: string | null;
      readonly note: string | null;
    } | null;
    readonly fee: { readonly amount: MoneyView; readonly waived: boolean } | null;
    readonly refund: MoneyView | null;
    /** The billing provider's own figure taken before approval. */
    readonly provider_preview: {
      readonly provider: string;
      readonly amount: MoneyView | null;
      readonly computed: MoneyView | null;
      readonly difference: MoneyView | null;
      readonly outstanding: MoneyView | null;
      readonly unavailable: string | null;
      readonly taken_at: string;
    } | null;
  };
  readonly risk: readonly { readonly flag: string; readonly message: string | null }[];
  readonly approvals: {
    readonly rule: string;
    readonly required: number;
    readonly approved_by: readonly { readonly id: string; readonly at: string }[];
    readonly rejected_by: readonly { readonly id: string; readonly at: string; readonly reason: string | null }[];
    /** How many more distinct approvals the policy needs (0 once decided). */
    readonly still_needed: number;
    readonly approvers: { readonly user_ids: readonly string[]; readonly user_groups: readonly string[] };
    readonly outcome: string | null;
    readonly requested_at: string;
    readonly decided_at: string | null;
    readonly slack: { readonly channel: string; readonly ts: string; readonly url: string } | null;
  } | null;
  readonly billing: {
    /** none: nothing sent yet; pending: sent, not confirmed; done: every effect confirmed; failed: an effect failed for good. */
    readonly status: 'none' | 'pending' | 'done' | 'failed';
    readonly effects: readonly {
      readonly step: string;
      readonly effect: string;
      readonly status: string;
      readonly provider: string;
      readonly attempts: number;
      readonly error: string | null;
      readonly confirmed: readonly { readonly type: string; readonly purpose: string; readonly amount: MoneyView; readonly destination: string }[];
    }[];
  };
  readonly emails: readonly { readonly outcome: string; readonly status: string; readonly subject: string | null; readonly sent_at: string | null }[];
  readonly timeline: readonly TimelineEntry[];
}

export interface AccountSummary {
  readonly id: string;
  readonly name: string;
  readonly plan_id: string;
  readonly plan_name: string;
  readonly status: string;
  readonly mrr: MoneyView;
  readonly support_tier: string | null;
  readonly term_start: string;
  readonly term_end: string;
  /** The account's last records, newest first. */
  readonly recent: readonly {
    readonly id: string;
    readonly kind_label: string;
    readonly subtype: string;
    readonly state: State;
    readonly state_words: string;
    readonly ticket_id: string | null;
    readonly created_at: string;
  }[];
}

/** One billing adjustment as stored. */
export interface AdjustmentFacts {
  readonly step: string;
  readonly provider: string;
  readonly status: 'pending' | 'succeeded' | 'failed';
  readonly attempts: number;
  readonly last_error: string | null;
  readonly effect: BillingEffect | null;
  readonly result: BillingResult | null;
}

/** Everything the database holds about one record that its summary shows. */
export interface RecordFacts {
  readonly record: LifecycleRecord;
  readonly events: readonly AuditEvent[];
  readonly approval: ApprovalRequest | null;
  readonly decisions: readonly ApprovalDecision[];
  readonly preview: StoredPreview | null;
  readonly adjustments: readonly AdjustmentFacts[];
  readonly emails: readonly { readonly outcome: string; readonly status: string; readonly subject: string | null; readonly sent_at: string | null }[];
}

/** Read side the summaries need (src/db implements it). */
export interface SummarySource {
  /** The ticket's records, newest first. */
  ticketRecords(ticketId: string, limit: number): Promise<RecordFacts[]>;
  record(recordId: string): Promise<RecordFacts | null>;
  /** The account and its newest records. */
  account(accountId: string, recent: number): Promise<{ account: Account; recent: LifecycleRecord[] } | null>;
}

export interface SummaryContext {
  readonly catalog: Catalog;
  /** Request path (or the label a mapping problem names) → the ticket field: its label and field-map name. */
  readonly fields: Readonly<Record<string, { readonly label: string; readonly name: string }>>;
}

/** How agents read each kind: the kind modules' labels. */
export const KIND_LABELS: Readonly<Record<LifecycleRecord['kind'], string>> = Object.fromEntries(KINDS.map((k) => [k, KIND_MODULES[k].label])) as Record<
  LifecycleRecord['kind'],
  string
>;

const isMoney = (v: unknown): v is Money =>
  typeof v === 'object' && v !== null && Number.isSafeInteger((v as Money).amount_minor) && typeof (v as Money).currency === 'string';

/** Money with its words; an unknown currency is shown as minor units rather than thrown. */
export function moneyView(v: unknown): MoneyView | null {
  if (!isMoney(v)) return null;
  let text: string;
  try {
    text = formatMoney(v);
  } catch {
    text = `${v.amount_minor} ${v.currency} (minor units)`;
  }
  return { amount_minor: v.amount_minor, currency: v.currency, text };
}
const mv = (v: unknown): MoneyView => moneyView(v)!;

/** The ticket field a problem concerns, walking up the path (`details.merge.target_account_id` → `details.merge`). */
function ticketFieldOf(field: string, ctx: SummaryContext): { label: string; name: string } | null {
  for (let f = field; f; f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : '') if (ctx.fields[f]) return ctx.fields[f]!;
  return null;
}

/** Problems with the ticket field each concerns. */
export const problemViews = (problems: readonly { field: string; message: string }[], ctx: SummaryContext): ProblemView[] =>
  problems.map((p) => {
    const f = ticketFieldOf(p.field, ctx);
    return { field: p.field, message: p.message, ticket_field: f?.label ?? null, field_name: f?.name ?? null };
  });

const words = (s: string) => s.replace(/_/g, ' ');
const who = (e: AuditEvent): string => e.actor.name ?? (e.actor.role === 'system' ? 'Lifecycle Desk' : e.actor.id);
const day = (iso: unknown): string => (typeof iso === 'string' ? iso.slice(0, 10) : '');

/** One line per audit event, in words an agent reads. */
export function eventWords(e: AuditEvent): string {
  const d = e.data as Record<string, unknown>;
  const reason = typeof d.reason === 'string' && d.reason ? `: ${d.reason}` : '';
  switch (e.type) {
    case 'record.created':
      return d.state === 'draft' ? `Filed by ${who(e)} as a draft (information missing or wrong)` : `Filed by ${who(e)}`;
    case 'record.revise':
      return `Draft updated by ${who(e)}${reason}`;
    case 'record.submit':
      return `Submitted by ${who(e)}`;
    case 'record.request_approval':
      return 'Sent to Slack for approval';
    case 'record.auto_approve':
      return 'Approved automatically by the policy';
    case 'record.approve':
      return `Approved by ${who(e)}`;
    case 'record.reject':
      return `Rejected by ${who(e)}${reason}`;
    case 'record.schedule':
      return `Scheduled to take effect ${day(d.effective_at) || 'later'}`;
    case 'record.start_apply':
      return 'Sent to billing';
    case 'record.mark_applied':
      return 'Applied to billing';
    case 'record.fail':
      return `Billing failed${reason}`;
    case 'record.retry':
      return `Retry asked by ${who(e)}`;
    case 'record.confirm':
      return 'Customer told by email';
    case 'record.close':
      return `Closed by ${who(e)}`;
    case 'record.cancel':
      return `Cancelled by ${who(e)}${reason}`;
    case 'record.dispute':
      return `Disputed${reason}`;
    case 'record.resolve':
      return `Dispute resolved${typeof d.outcome === 'string' ? ` (${d.outcome})` : ''} by ${who(e)}${reason}`;
    case 'record.lower_amount':
      return `Amount lowered by ${who(e)}${reason}`;
    case 'record.reversal_filed':
      return `Reversal filed by ${who(e)}${reason}`;
    case 'email.sent':
      return `Email sent to the customer${typeof d.subject === 'string' ? `: "${d.subject}"` : ''}`;
    case 'email.skipped':
      return `No email sent${reason}`;
    case 'approval.recorded':
      return `${who(e)} ${d.decision === 'reject' ? 'rejected' : 'approved'} in Slack`;
    case 'approval.refused':
      return `Slack decision by ${who(e)} refused${reason}`;
    case 'billing.effect_failed':
      return `A billing step failed${reason}`;
    case 'billing.unscheduled':
      return 'Scheduled billing change taken back';
    case 'access.denied':
      return `${who(e)} was refused: ${words(String(d.action ?? 'an action'))} is not allowed for ${String(d.role ?? 'their role')}`;
    default:
      return words(e.type.replace('.', ': '));
  }
}

function approvalsOf(f: RecordFacts): RecordSummary['approvals'] {
  const a = f.approval;
  if (!a) return null;
  const approved = f.decisions.filter((d) => d.decision === 'approve');
  const rejected = f.decisions.filter((d) => d.decision === 'reject');
  const first = a.messages[0];
  return {
    rule: a.rule,
    required: a.approvals_required,
    approved_by: approved.map((d) => ({ id: d.approver_id, at: d.decided_at })),
    rejected_by: rejected.map((d) => ({ id: d.approver_id, at: d.decided_at, reason: d.reason })),
    still_needed: a.decided_at ? 0 : Math.max(0, a.approvals_required - new Set(approved.map((d) => d.approver_id)).size),
    approvers: a.approvers,
    outcome: a.outcome,
    requested_at: a.requested_at,
    decided_at: a.decided_at,
    // Slack's permalink form; Slack sends a signed-in user on to their workspace.
    slack: a.channel && first ? { channel: a.channel, ts: first.ts, url: `https://slack.com/archives/${a.channel}/p${first.ts.replace('.', '')}` } : null,
  };
}

function billingOf(f: RecordFacts): RecordSummary['billing'] {
  const effects = f.adjustments.map((a) => ({
    step: a.step,
    effect: a.effect ? words(a.effect.type) : a.step,
    status: a.status,
    provider: a.provider,
    attempts: a.attempts,
    error: a.status === 'succeeded' ? null : (a.last_error?.slice(0, 300) ?? null),
    confirmed: (a.result?.money ?? []).map((m: ConfirmedMoney) => ({
      type: m.type,
      purpose: words(m.purpose),
      amount: mv(m.amount),
      destination: m.destination,
    })),
  }));
  const status =
    effects.length === 0 ? 'none' : effects.some((e) => e.status === 'failed') ? 'failed' : effects.every((e) => e.status === 'succeeded') ? 'done' : 'pending';
  return { status, effects };
}

function moneyOf(f: RecordFacts): RecordSummary['money'] {
  const r = f.record;
  const d = r.details as Record<string, unknown>;
  const p = d.proration as { credit: Money; charge: Money; net: Money; period_start: string; period_end: string; change_at: string } | undefined;
  const verification = d.verification as { result?: string; note?: string } | undefined;
  const pv = f.preview;
  return {
    net: moneyView(r.amount),
    price_delta: moneyView(d.price_delta),
    proration:
      p && isMoney(p.net)
        ? { credit: mv(p.credit), charge: mv(p.charge), net: mv(p.net), period_start: p.period_start, period_end: p.period_end, change_at: p.change_at }
        : null,
    sla_credit:
      r.kind === 'service_credit'
        ? {
            requested: moneyView(d.requested_credit),
            computed: moneyView(d.computed_credit),
            period_charges: moneyView(d.period_charges),
            verification: verification?.result ?? null,
            note: verification?.note ?? null,
          }
        : null,
    fee: isMoney(d.early_termination_fee) ? { amount: mv(d.early_termination_fee), waived: d.fee_waived === true } : null,
    refund: moneyView(d.refund),
    provider_preview: pv
      ? {
          provider: pv.provider,
          amount: moneyView(pv.amount),
          computed: moneyView(pv.computed),
          difference: moneyView(pv.difference),
          outstanding: moneyView(pv.outstanding),
          unavailable: pv.unavailable ?? null,
          taken_at: pv.created_at,
        }
      : null,
  };
}

/** The sidebar's summary: the neutral record view (`records/summary.ts`) plus what the database holds about it. */
export function summarizeRecord(f: RecordFacts, ctx: SummaryContext): RecordSummary {
  const r = f.record;
  const view = recordView(r);
  const explained = new Map((f.approval?.risk ?? []).map((x) => [x.flag, x.message]));
  return {
    id: r.id,
    kind: r.kind,
    kind_label: view.kind_label,
    subtype: r.subtype,
    subtype_label: view.subtype_label,
    state: r.state,
    state_words: view.state_words,
    version: r.version,
    account_id: r.account_id,
    ticket_id: r.ticket_id,
    requested_by: r.requested_by,
    reason_code: r.reason_code,
    reason_text: r.reason_text,
    change: view.change,
    effective: r.effective,
    effective_at: r.effective_at,
    created_at: r.created_at,
    updated_at: r.updated_at,
    problems: problemViews(r.problems, ctx),
    money: moneyOf(f),
    risk: r.risk_flags.map((flag) => ({ flag, message: explained.get(flag) ?? null })),
    approvals: approvalsOf(f),
    billing: billingOf(f),
    emails: f.emails,
    timeline: f.events.map((e) => ({ at: e.occurred_at, type: e.type, words: eventWords(e), actor: e.actor })),
  };
}

export function summarizeAccount(account: Account, recent: readonly LifecycleRecord[], catalog: Catalog): AccountSummary {
  return {
    id: account.id,
    name: account.name,
    plan_id: account.plan_id,
    plan_name: findPlan(catalog, account.plan_id)?.name ?? account.plan_id,
    status: account.status,
    mrr: mv({ amount_minor: account.mrr_minor, currency: account.currency }),
    support_tier: account.support_tier,
    term_start: account.term_start,
    term_end: account.term_end,
    recent: recent.map((r) => ({
      id: r.id,
      kind_label: kindLabel(r.kind),
      subtype: subtypeLabel(r.subtype),
      state: r.state,
      state_words: stateWords(r.state),
      ticket_id: r.ticket_id,
      created_at: r.created_at,
    })),
  };
}

/** One record's summary, as it is now. */
export async function recordSummary(source: SummarySource, ctx: SummaryContext, recordId: string): Promise<RecordSummary> {
  const facts = await source.record(recordId);
  if (!facts) throw new AppError('not_found', `No lifecycle record ${recordId}`);
  return summarizeRecord(facts, ctx);
}

/** What a ticket shows: its records (newest first, the first is the current one) and the account of the newest. */
export interface TicketSummary {
  readonly ticket_id: string;
  readonly records: readonly RecordSummary[];
  readonly account: AccountSummary | null;
  /** Changes whenever anything shown changes: a poller compares it instead of the whole body. */
  readonly stamp: string;
}

/** Records shown per ticket; an account panel lists this many of the account's records. */
export const TICKET_RECORDS = 5;
export const ACCOUNT_RECENT = 10;

export async function ticketSummary(source: SummarySource, ctx: SummaryContext, ticketId: string, accountId?: string): Promise<TicketSummary> {
  const facts = await source.ticketRecords(ticketId, TICKET_RECORDS);
  const records = facts.map((f) => summarizeRecord(f, ctx));
  const accountOf = records[0]?.account_id ?? accountId;
  const acc = accountOf ? await source.account(accountOf, ACCOUNT_RECENT) : null;
  const account = acc ? summarizeAccount(acc.account, acc.recent, ctx.catalog) : null;
  const stamp = createHash('sha256').update(canonicalJson({ records, account })).digest('hex').slice(0, 32);
  return { ticket_id: ticketId, records, account, stamp };
}
