import { summarizeRecord } from '../../src/app/record-summary';
import { ticketNote } from '../../src/app/ticket-view';
import { emailVariables } from '../../src/integrations/email/templates';
import { approvalRequestMessage } from '../../src/integrations/slack/blocks';
import { KIND_MODULES, KINDS } from '../../src/records/kinds';
import type { Kind, LifecycleRecord } from '../../src/records/kinds';
import { recordView } from '../../src/records/summary';
import { buildCatalog } from '../helpers/builders';

/** One neutral record summary; Slack, the email, the Zendesk note and the sidebar render it. */

const EUR = (amount_minor: number) => ({ amount_minor, currency: 'EUR' });

const record = (over: Partial<LifecycleRecord> = {}): LifecycleRecord => ({
  id: 'r1',
  kind: 'upgrade',
  subtype: 'pricing_model',
  account_id: 'acc_acme',
  ticket_id: '42',
  requested_by: 'ann@support.example',
  requester: null,
  reason_code: 'growth',
  reason_text: '',
  effective: 'immediate',
  effective_at: '2026-03-16T12:00:00.000Z',
  state: 'pending_approval',
  version: 2,
  details: {
    from_plan: 'growth',
    to_plan: 'business',
    price_delta: EUR(20000),
    proration: {
      net: EUR(1234),
      credit: EUR(-100),
      charge: EUR(1334),
      period_start: '2026-03-01T00:00:00.000Z',
      period_end: '2026-04-01T00:00:00.000Z',
      change_at: '2026-03-16T12:00:00.000Z',
    },
  },
  amount: EUR(1234),
  risk_flags: [],
  problems: [],
  created_at: '2026-03-16T12:00:00.000Z',
  updated_at: '2026-03-16T12:00:00.000Z',
  ...over,
});

const slackText = (r: LifecycleRecord): string =>
  JSON.stringify(approvalRequestMessage({ record: r, accountName: 'Acme GmbH', ticketUrl: null, riskExplanations: [], approvalsRequired: 1, approvals: [] }));

it('gives each surface the same label, change line and money facts', () => {
  const r = record();
  const view = recordView(r);
  expect(view).toMatchObject({
    kind_label: 'Upgrade',
    subtype_label: 'pricing model',
    title: 'Upgrade (pricing model)',
    customer_label: 'Pricing model change',
    change: 'upgrade (pricing_model) for account acc_acme, plan growth → business, charge €12.34, effective immediately (2026-03-16)',
    state_words: 'Waiting for supervisor approval in Slack',
  });
  expect(view.money_lines).toEqual([
    { label: 'Price change per interval', money: EUR(20000), signed: true },
    { label: 'Prorated now', value: 'charge', money: EUR(1234) },
  ]);

  const slack = slackText(r);
  expect(slack).toContain(view.title);
  expect(slack).toContain(view.change);
  expect(slack).toContain('Price change per interval: +€200.00');
  expect(slack).toContain('Prorated now: charge €12.34');

  expect(ticketNote(r)).toContain(`Change: ${view.change}`);
  expect(ticketNote(r)).toContain(`State: ${view.state_words}`);

  const sidebar = summarizeRecord(
    { record: r, events: [], approval: null, decisions: [], preview: null, adjustments: [], emails: [] },
    { catalog: buildCatalog(), fields: {} },
  );
  expect(sidebar).toMatchObject({ kind_label: view.kind_label, subtype_label: view.subtype_label, change: view.change, state_words: view.state_words });

  const email = emailVariables('applied', {
    record: r,
    account: { id: 'acc_acme', name: 'Acme GmbH', currency: 'EUR' },
    ticketId: '42',
    reason: null,
    billing: [],
  });
  expect(email.kind_label).toBe(view.customer_label);
});

it('takes every label from the kind module, so a kind is labelled in one place', () => {
  for (const kind of KINDS as Kind[]) {
    const subtype = KIND_MODULES[kind].billingRows[0]!.subtype;
    const view = recordView(record({ kind, subtype, details: {}, amount: null }));
    expect(view.kind_label).toBe(KIND_MODULES[kind].label);
    expect(view.customer_label).toBe((KIND_MODULES[kind].customerLabels as Record<string, string>)[subtype]);
    expect(view.change.startsWith(`${KIND_MODULES[kind].label.toLowerCase()} (${subtype})`)).toBe(true);
  }
});

it('stays total for a draft: no subtype, and a currency Intl does not know, still make a Zendesk note', () => {
  const draft = record({ state: 'draft', subtype: '', amount: { amount_minor: 100, currency: 'XQQ' }, details: {} });
  expect(recordView(draft)).toMatchObject({
    title: 'Upgrade (subtype missing)',
    customer_label: 'Upgrade',
    change: 'Upgrade (subtype missing) for account acc_acme',
  });
  expect(ticketNote(draft)).toContain('Change: Upgrade (subtype missing) for account acc_acme');
});
