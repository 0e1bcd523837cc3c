import { offerState } from '../records/retention-offers';
import { createHash } from 'node:crypto';
import { STATES, KINDS } from '../records/kinds';
import type { LifecycleRecord } from '../records/kinds';
import type { Problem } from '../records/errors';
import type { TicketUpdate } from '../records/ports';
import { REASON_CODE_PATTERN } from '../records/reasons';
import { describeChange, recordView, stateWords } from '../records/summary';

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

/** Labels and change descriptions are the neutral summary's (`records/summary.ts`); kept here for importers. */
export { describeChange, stateWords };

/** Problem fields translated for agents ("details.to_plan" → "Target plan (field 360…)") where a label is known. */
export type FieldLabels = Readonly<Record<string, string>>;

const labelOf = (field: string, labels: FieldLabels): string => {
  for (let f = field; f; f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : '') if (labels[f]) return labels[f]!;
  return field;
};

export function problemLines(problems: readonly Problem[], labels: FieldLabels = {}): string[] {
  return problems.map((p) => `- ${p.field ? `${labelOf(p.field, labels)}: ` : ''}${p.message}`);
}

/** The internal note for a record's current state: the neutral summary's words, for Zendesk. */
export function ticketNote(r: LifecycleRecord, labels: FieldLabels = {}): string {
  const view = recordView(r);
  const lines = [`Lifecycle Desk record ${r.id}`, `State: ${view.state_words}`, `Change: ${view.change}`];
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
