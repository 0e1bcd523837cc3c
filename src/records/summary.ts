import { isKind, KIND_MODULES, kindModule } from './kinds';
import type { Kind, LifecycleRecord, RecordOf, State } from './kinds';
import type { ConfirmedTotals, CustomerFacts, MoneyLine } from './kinds/common';
import { formatMoney } from './money';
import type { Money } from './money';

/**
 * The neutral summary of a record: what it is, what it changes, its state and its money, as
 * plain data with the words for them. Slack blocks, the customer email, the Zendesk note and the
 * sidebar (through `app/record-summary.ts`) all render this; each surface only escapes and lays
 * it out. Labels and change descriptions are written here and in the kind modules, nowhere else.
 * Pure and total: a draft with a missing subtype or an unknown currency still summarises.
 */

export type { ConfirmedTotals, CustomerFacts, MoneyLine };

export interface RecordView {
  readonly kind: Kind;
  /** How agents and supervisors read the kind ("Service credit"). */
  readonly kind_label: string;
  readonly subtype: string;
  /** "sla breach"; "subtype missing" on a draft without one. */
  readonly subtype_label: string;
  /** "Service credit (sla breach)". */
  readonly title: string;
  /** How the customer reads it ("Billing correction"). */
  readonly customer_label: string;
  /** One line an agent reads to know what the record changes. */
  readonly change: string;
  readonly state: State;
  readonly state_words: string;
  /** Net for the customer: positive they pay, negative they are credited. */
  readonly amount: Money | null;
  /** The kind's money facts (requested vs computed credit, proration, fees). */
  readonly money_lines: readonly MoneyLine[];
}

const STATE_WORDS: Record<State, string> = {
  draft: 'Draft: information is missing or wrong (see below)',
  submitted: 'Submitted: checks passed, waiting for the approval policy',
  pending_approval: 'Waiting for supervisor approval in Slack',
  approved: 'Approved',
  rejected: 'Rejected',
  scheduled: 'Approved and scheduled',
  applying: 'Being applied to billing',
  applied: 'Applied to billing',
  failed: 'Applying failed; the team has been alerted',
  confirmed: 'Applied and confirmed to the customer by email',
  closed: 'Closed',
  cancelled: 'Cancelled',
  disputed: 'Disputed by the customer',
  resolved: 'Dispute resolved',
};

/** How a state reads in notes ("Waiting for supervisor approval in Slack"). */
export const stateWords = (state: State): string => STATE_WORDS[state];

const words = (s: string) => s.replace(/_/g, ' ');

/** How agents read a kind; an unknown one is shown as its words. */
export const kindLabel = (kind: string): string => (isKind(kind) ? KIND_MODULES[kind].label : words(kind));

/** How agents read a subtype ("sla breach"). */
export const subtypeLabel = (subtype: string): string => words(subtype || 'subtype missing');

/** How a customer reads a record's kind and subtype ("Plan upgrade"), with the kind's word when the subtype is unknown. */
export function customerLabel(kind: Kind, subtype: string): string {
  const m = KIND_MODULES[kind];
  return (m.customerLabels as Readonly<Record<string, string>>)[subtype] ?? m.customerLabel;
}

/** A module's per-record hooks, called on a record that may be a draft: they check what they read. */
const loose = (r: LifecycleRecord) => r as unknown as RecordOf<Kind>;
const changeOf = <K extends Kind>(r: RecordOf<K>, facts: CustomerFacts): string => kindModule(r.kind).customerChange(r, facts);
const moneyLinesOf = <K extends Kind>(r: RecordOf<K>): MoneyLine[] => kindModule(r.kind).moneyLines(r);

/** What the record changes, as a noun phrase the customer reads in any tense, from the facts the email formatted. */
export function customerChange(r: LifecycleRecord, facts: CustomerFacts): string {
  return changeOf(loose(r), facts);
}

/** The amount the customer email states for the record, from what the provider confirmed. */
export function customerMoney(kind: Kind, confirmed: ConfirmedTotals): { readonly money: Money | null; readonly prorated: boolean } {
  return KIND_MODULES[kind].customerMoney(confirmed);
}

const money = (m: unknown): string | null => {
  const v = m as Money | null | undefined;
  return v && typeof v.amount_minor === 'number' && typeof v.currency === 'string' ? formatMoney(v) : null;
};

/** One line an agent reads to know what the record changes. Throws only on a currency Intl does not know. */
export function describeChange(r: LifecycleRecord): string {
  const d = r.details as Record<string, unknown>;
  const parts: string[] = [`${kindLabel(r.kind).toLowerCase()} (${r.subtype || 'subtype missing'}) for account ${r.account_id}`];
  if (typeof d.to_plan === 'string') parts.push(`plan ${String(d.from_plan ?? '?')} → ${d.to_plan}`);
  if (typeof d.to_support_tier === 'string') parts.push(`support ${String(d.from_support_tier ?? '?')} → ${d.to_support_tier}`);
  if (typeof d.status_after === 'string') parts.push(`status ${String(d.status_before ?? '?')} → ${d.status_after}`);
  const amount = money(r.amount);
  if (amount) parts.push(r.amount!.amount_minor < 0 ? `credit ${money({ ...r.amount!, amount_minor: -r.amount!.amount_minor })}` : `charge ${amount}`);
  if (r.effective)
    parts.push(
      `effective ${r.effective === 'immediate' ? 'immediately' : r.effective === 'end_of_term' ? 'at the end of the term' : r.effective}${r.effective_at ? ` (${r.effective_at.slice(0, 10)})` : ''}`,
    );
  return parts.join(', ');
}

/** The neutral summary of one record. */
export function recordView(r: LifecycleRecord): RecordView {
  const known = isKind(r.kind);
  const kind_label = kindLabel(r.kind);
  const subtype_label = subtypeLabel(r.subtype);
  let change: string;
  try {
    change = describeChange(r);
  } catch {
    // A currency Intl does not know must not stop a message or a note.
    change = `${kind_label} (${subtype_label}) for account ${r.account_id}`;
  }
  return {
    kind: r.kind,
    kind_label,
    subtype: r.subtype,
    subtype_label,
    title: `${kind_label} (${subtype_label})`,
    customer_label: known ? customerLabel(r.kind, r.subtype) : kind_label,
    change,
    state: r.state,
    state_words: stateWords(r.state),
    amount: r.amount,
    money_lines: known ? moneyLinesOf(loose(r)) : [],
  };
}
