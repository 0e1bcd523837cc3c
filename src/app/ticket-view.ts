import { offerState } from '../records/retention';
import { createHash } from 'node:crypto';
import { STATES, KINDS } from '../records/kinds';
import type { LifecycleRecord } from '../records/kinds';
import { formatMoney } from '../records/money';
import type { Money } from '../records/money';
import type { Problem } from '../records/errors';
import type { TicketUpdate } from '../records/ports';
import { REASON_CODE_PATTERN } from '../records/reasons';

/** What a ticket should show for a record: one internal note and tags that track kind and state. */

export const tagFor = {
  kind: (kind: string) => `lifecycle_${kind}`,
  state: (state: string) => `lifecycle_${state}`,
  /** The record's reason code, so Zendesk views and reports can group tickets by it. */
  reason: (code: string) => `lifecycle_reason_${code}`,
};

/**
 * The tag an agent adds to file a ticket's request again once its last record is finished
 * (rejected, cancelled, confirmed…), when the request fields stay the same. Every ticket update
 * removes it, so it is a one-off.
 */
export const REREQUEST_TAG = 'lifecycle_rerequest';

/**
 * Tags for a record's kind, state and reason. The reason tag is added only for a code the
 * taxonomy accepted (a draft whose code is unknown gets none); `reasonCodes` (every code of the
 * taxonomy) are the reason tags taken off, so a revised reason leaves no stale tag behind.
 */
export function ticketTags(
  record: Pick<LifecycleRecord, 'kind' | 'state'> & Partial<Pick<LifecycleRecord, 'reason_code' | 'problems'>>,
  reasonCodes: readonly string[] = [],
): { add: string[]; remove: string[] } {
  const add = [tagFor.kind(record.kind), tagFor.state(record.state)];
  const code = record.reason_code?.trim() ?? '';
  if (REASON_CODE_PATTERN.test(code) && !(record.problems ?? []).some((p) => p.field === 'reason_code')) add.push(tagFor.reason(code));
  const remove = [...KINDS.map(tagFor.kind), ...STATES.map(tagFor.state), ...reasonCodes.map(tagFor.reason), REREQUEST_TAG].filter((t) => !add.includes(t));
  return { add, remove };
}

const STATE_WORDS: Record<LifecycleRecord['state'], string> = {
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
export const stateWords = (state: LifecycleRecord['state']): string => STATE_WORDS[state];

const money = (m: unknown): string | null => {
  const v = m as Money | null | undefined;
  return v && typeof v.amount_minor === 'number' && typeof v.currency === 'string' ? formatMoney(v) : null;
};

/** One line an agent reads to know what the record changes. */
export function describeChange(r: LifecycleRecord): string {
  const d = r.details as Record<string, unknown>;
  const parts: string[] = [`${r.kind.replace('_', ' ')} (${r.subtype || 'subtype missing'}) for account ${r.account_id}`];
  if (typeof d.to_plan === 'string') parts.push(`plan ${String(d.from_plan ?? '?')} → ${d.to_plan}`);
  if (typeof d.to_support_tier === 'string') parts.push(`support ${String(d.from_support_tier ?? '?')} → ${d.to_support_tier}`);
  if (typeof d.status_after === 'string') parts.push(`status ${String(d.status_before ?? '?')} → ${d.status_after}`);
  const amount = money(r.amount);
  if (amount) parts.push(r.amount!.amount_minor < 0 ? `credit ${money({ ...r.amount!, amount_minor: -r.amount!.amount_minor })}` : `charge ${amount}`);
  if (r.effective) parts.push(`effective ${r.effective === 'immediate' ? 'immediately' : r.effective === 'end_of_term' ? 'at the end of the term' : r.effective}${r.effective_at ? ` (${r.effective_at.slice(0, 10)})` : ''}`);
  return parts.join(', ');
}

/** Problem fields translated for agents ("details.to_plan" → "Target plan (field 360…)") where a label is known. */
export type FieldLabels = Readonly<Record<string, string>>;

const labelOf = (field: string, labels: FieldLabels): string => {
  for (let f = field; f; f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : '') if (labels[f]) return labels[f]!;
  return field;
};

export function problemLines(problems: readonly Problem[], labels: FieldLabels = {}): string[] {
  return problems.map((p) => `- ${p.field ? `${labelOf(p.field, labels)}: ` : ''}${p.message}`);
}

/** The internal note for a record's current state. */
export function ticketNote(r: LifecycleRecord, labels: FieldLabels = {}): string {
  const lines = [`Lifecycle Desk record ${r.id}`, `State: ${STATE_WORDS[r.state]}`, `Change: ${describeChange(r)}`];
  if (r.state === 'draft' && r.problems.length) {
    lines.push('', 'To file this request, fix these ticket fields (the record updates itself when the ticket changes):', ...problemLines(r.problems, labels));
  }
  const offer = offerState(r);
  if (r.state === 'submitted' && offer?.outcome === 'pending') {
    lines.push(
      '',
      `Retention offer to put to the customer first: ${offer.offer}.`,
      `Record their answer (accepted withdraws this request; declined lets it continue): POST /api/records/${r.id}/retention-offer or the Lifecycle Desk app.`,
    );
  } else if (offer && offer.outcome !== 'pending') {
    lines.push('', `Retention offer (${offer.offer}): ${offer.outcome}.`);
  }
  if (r.risk_flags.length) lines.push('', `Risk flags: ${r.risk_flags.join(', ')}`);
  return lines.join('\n');
}

export const noteHash = (note: string): string => createHash('sha256').update(note).digest('hex');

export function ticketUpdateFor(r: LifecycleRecord, labels: FieldLabels = {}, reasonCodes: readonly string[] = []): TicketUpdate & { internalNote: string } {
  const tags = ticketTags(r, reasonCodes);
  return { internalNote: ticketNote(r, labels), addTags: tags.add, removeTags: tags.remove };
}
