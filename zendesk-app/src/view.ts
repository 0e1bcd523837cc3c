import { h, day, when } from './dom';
import type { AccountView, MoneyView, RecordView } from './model';

/** Renders the neutral record summary the service sends: read-only panels. */

const STATE_TONE: Record<string, string> = {
  draft: 'yellow',
  submitted: 'blue',
  pending_approval: 'yellow',
  approved: 'green',
  scheduled: 'blue',
  applying: 'blue',
  applied: 'green',
  confirmed: 'green',
  closed: 'grey',
  rejected: 'red',
  failed: 'red',
  cancelled: 'grey',
  disputed: 'red',
  resolved: 'grey',
};

export const stateTag = (state: string) =>
  h('span', { class: `c-tag c-tag--pill c-tag--${STATE_TONE[state] ?? 'grey'} ld-state`, 'data-state': state }, state.replace(/_/g, ' '));

const row = (label: string, ...value: (Node | string | null)[]) =>
  h('div', { class: 'ld-row' }, h('span', { class: 'ld-row__label' }, label), h('span', { class: 'ld-row__value' }, ...value));
const money = (m: MoneyView | null | undefined) => (m ? m.text : '—');
const section = (title: string, cls: string, ...children: (Node | null | false | (Node | null)[])[]) =>
  h('section', { class: `ld-section ${cls}` }, h('h3', { class: 'ld-section__title' }, title), ...children.flat().filter((c): c is Node => !!c));

export function netWords(m: MoneyView | null): string {
  if (!m) return 'No money impact';
  if (m.amount_minor === 0) return `No charge (${m.text})`;
  return m.amount_minor < 0 ? `Credit of ${m.text.replace('-', '').replace('−', '')} to the customer` : `Customer pays ${m.text}`;
}

export function moneySection(r: Pick<RecordView, 'money' | 'kind'>): HTMLElement {
  const m = r.money;
  const rows: (HTMLElement | null)[] = [row('Net', netWords(m.net))];
  if (m.price_delta) rows.push(row('Price change / period', money(m.price_delta)));
  if (m.proration) {
    rows.push(row('Proration', `credit ${money(m.proration.credit)}, charge ${money(m.proration.charge)} → ${money(m.proration.net)}`));
    rows.push(row('Prorated period', `${day(m.proration.period_start)} – ${day(m.proration.period_end)}`));
  }
  if (m.sla_credit) {
    rows.push(row('Credit asked', money(m.sla_credit.requested)));
    rows.push(row('Credit computed', `${money(m.sla_credit.computed)}${m.sla_credit.verification ? ` (${m.sla_credit.verification})` : ''}`));
    if (m.sla_credit.period_charges) rows.push(row("Period's charges", money(m.sla_credit.period_charges)));
    if (m.sla_credit.note) rows.push(h('p', { class: 'ld-note' }, m.sla_credit.note));
  }
  if (m.fee) rows.push(row('Early-termination fee', `${money(m.fee.amount)}${m.fee.waived ? ' (waived)' : ''}`));
  if (m.refund) rows.push(row('Refund', money(m.refund)));
  const p = m.provider_preview;
  if (p) {
    rows.push(
      p.unavailable
        ? row(`${p.provider} preview`, `not available: ${p.unavailable}`)
        : row(
            `${p.provider} preview`,
            `${p.provider} will ${p.amount && p.amount.amount_minor < 0 ? 'credit' : 'invoice'} ${money(p.amount)}; Lifecycle Desk computed ${money(p.computed)}${p.difference && p.difference.amount_minor !== 0 ? ` (difference ${p.difference.text})` : ''}`,
          ),
    );
    if (p.outstanding) rows.push(row('Owed at the provider', money(p.outstanding)));
  }
  return section('Money', 'ld-money', rows);
}

/** Slack users and groups who may still decide (those who approved already are left out). */
function approversWords(a: NonNullable<RecordView['approvals']>): string {
  const done = new Set(a.approved_by.map((x) => x.id));
  const users = a.approvers.user_ids.filter((u) => !done.has(u));
  const groups = a.approvers.user_groups.map((g) => `group ${g}`);
  return [...users, ...groups].join(', ') || 'see the policy';
}

function approvalsSection(r: RecordView): HTMLElement | null {
  const a = r.approvals;
  if (!a) return null;
  const approved = a.approved_by.map((x) => x.id).join(', ');
  return section(
    'Approvals',
    'ld-approvals',
    row('Needed', `${a.required} approval${a.required === 1 ? '' : 's'}`),
    row('Approved by', approved || 'nobody yet'),
    a.rejected_by.length ? row('Rejected by', a.rejected_by.map((x) => `${x.id}${x.reason ? ` (${x.reason})` : ''}`).join(', ')) : null,
    a.outcome ? row('Outcome', a.outcome) : row('Still needed', a.still_needed === 0 ? 'none' : `${a.still_needed} more`),
    !a.outcome && a.still_needed > 0 ? row('Can approve', approversWords(a)) : null,
    a.slack ? h('a', { class: 'ld-link', href: a.slack.url, target: '_blank', rel: 'noopener noreferrer' }, 'Open the request in Slack') : null,
  );
}

function billingSection(r: RecordView): HTMLElement | null {
  const b = r.billing;
  const emails = r.emails;
  if (b.status === 'none' && emails.length === 0) return null;
  const words = { none: 'not sent to billing yet', pending: 'in progress', done: 'done', failed: 'failed' }[b.status];
  return section(
    'Billing and customer email',
    'ld-billing',
    row('Billing', words),
    b.effects.map((e) =>
      h(
        'div',
        { class: 'ld-effect' },
        row(e.effect, `${e.status} at ${e.provider}`),
        e.confirmed.map((c) => h('p', { class: 'ld-note' }, `${c.purpose}: ${c.type} ${c.amount.text}`)),
        e.error ? h('p', { class: 'ld-note ld-note--error' }, e.error) : null,
      ),
    ),
    emails.map((e) => row(`Email (${e.outcome.replace(/_/g, ' ')})`, e.status === 'sent' ? `"${e.subject ?? ''}" sent ${when(e.sent_at)}` : e.status)),
  );
}

function riskSection(r: RecordView): HTMLElement | null {
  if (r.risk.length === 0) return null;
  return section(
    'Risk flags',
    'ld-risk',
    r.risk.map((f) =>
      h(
        'div',
        { class: 'ld-risk__flag' },
        h('span', { class: 'c-tag c-tag--red c-tag--sm' }, f.flag.replace(/_/g, ' ')),
        f.message ? h('span', { class: 'ld-note' }, ' ', f.message) : null,
      ),
    ),
  );
}

function timelineSection(r: RecordView): HTMLElement {
  return h(
    'details',
    { class: 'ld-section ld-timeline' },
    h('summary', { class: 'ld-section__title' }, `Timeline (${r.timeline.length})`),
    h(
      'ol',
      { class: 'ld-timeline__list' },
      r.timeline.map((e) => h('li', {}, h('span', { class: 'ld-timeline__at' }, when(e.at)), ' ', e.words)),
    ),
  );
}

/** The record's read-only panels; actions and the fix form are added by the caller. */
export function recordPanels(r: RecordView): HTMLElement[] {
  return [
    h(
      'div',
      { class: 'ld-record__head' },
      h('div', { class: 'ld-record__title' }, `${r.kind_label} · ${r.subtype_label}`, ' ', stateTag(r.state)),
      h('p', { class: 'ld-record__words' }, r.state_words),
      h('p', { class: 'ld-record__change' }, r.change),
      r.effective_at ? row('Takes effect', when(r.effective_at)) : null,
      row('Filed by', r.requested_by),
    ),
    moneySection(r),
    riskSection(r),
    approvalsSection(r),
    billingSection(r),
    timelineSection(r),
  ].filter((x): x is HTMLElement => x !== null);
}

export function accountPanel(a: AccountView): HTMLElement {
  return section(
    `Account ${a.name}`,
    'ld-account',
    row('Plan', a.plan_name),
    row('Status', a.status),
    row('MRR', a.mrr.text),
    row('Term ends', day(a.term_end)),
    h(
      'ol',
      { class: 'ld-recent' },
      a.recent.map((r) =>
        h(
          'li',
          {},
          stateTag(r.state),
          ' ',
          `${r.kind_label} (${r.subtype})`,
          h('span', { class: 'ld-note' }, ` ${day(r.created_at)}${r.ticket_id ? ` · #${r.ticket_id}` : ''}`),
        ),
      ),
    ),
  );
}
