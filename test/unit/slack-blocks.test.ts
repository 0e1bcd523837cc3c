import type { types as SlackTypes } from '@slack/bolt';
import {
  ACTION_APPROVE,
  ACTION_REJECT,
  HOME_MAX_ITEMS,
  REJECT_MODAL_CALLBACK_ID,
  accountSummaryBlocks,
  appHomeView,
  approvalRequestMessage,
  decisionMessage,
  escapeMrkdwn,
  parseApprovalButtonValue,
  parseRejectModalMeta,
  rejectReasonModal,
} from '../../src/integrations/slack/blocks';
import type { ApprovalView, PendingApprovalItem } from '../../src/integrations/slack/blocks';
import type { LifecycleRecord } from '../../src/records/kinds';
import { blockKitProblems } from '../helpers/fake-slack';

type KnownBlock = SlackTypes.KnownBlock;
type Button = SlackTypes.Button;

function buildRecord(overrides: Partial<LifecycleRecord> = {}): LifecycleRecord {
  return {
    id: 'rec_0001',
    kind: 'service_credit',
    subtype: 'sla_breach',
    account_id: 'acc_acme',
    ticket_id: '4242',
    requested_by: 'agent@support.example',
    requester: { email: 'ops@acme.example', name: 'Olga Ops' },
    reason_code: 'sla_breach',
    reason_text: 'API was down for 6 hours on 10 March.',
    effective: 'immediate',
    effective_at: '2026-03-16T12:00:00Z',
    state: 'pending_approval',
    version: 3,
    details: {
      period_start: '2026-03-10T00:00:00Z',
      period_end: '2026-03-11T00:00:00Z',
      requested_credit: { amount_minor: 1234, currency: 'EUR' },
      computed_credit: { amount_minor: 1000, currency: 'EUR' },
    },
    amount: { amount_minor: -1234, currency: 'EUR' },
    risk_flags: [],
    problems: [],
    created_at: '2026-03-16T11:00:00Z',
    updated_at: '2026-03-16T11:30:00Z',
    ...overrides,
  };
}

function buildView(overrides: Partial<ApprovalView> = {}): ApprovalView {
  return {
    record: buildRecord(),
    accountName: 'Acme GmbH',
    ticketUrl: 'https://acme.zendesk.com/agent/tickets/4242',
    riskExplanations: [],
    approvalsRequired: 1,
    approvals: [],
    ...overrides,
  };
}

/** Every string a reader could see: text objects anywhere in the blocks. */
function visibleTexts(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(visibleTexts);
  if (typeof value !== 'object' || value === null) return [];
  const o = value as Record<string, unknown>;
  const own = (o.type === 'mrkdwn' || o.type === 'plain_text') && typeof o.text === 'string' ? [o.text] : [];
  return [...own, ...Object.values(o).flatMap(visibleTexts)];
}

const allText = (blocks: unknown): string => visibleTexts(blocks).join('\n');
const actionsOf = (blocks: KnownBlock[]) => blocks.filter((b): b is SlackTypes.ActionsBlock => b.type === 'actions');
const buttons = (blocks: KnownBlock[]) => actionsOf(blocks).flatMap((a) => a.elements as Button[]);
const mrkdwnObjects = (value: unknown): Record<string, unknown>[] => {
  if (Array.isArray(value)) return value.flatMap(mrkdwnObjects);
  if (typeof value !== 'object' || value === null) return [];
  const o = value as Record<string, unknown>;
  return [...(o.type === 'mrkdwn' ? [o] : []), ...Object.values(o).flatMap(mrkdwnObjects)];
};

describe('approvalRequestMessage', () => {
  it('shows the customer, the change, the money, the effective date, the reason, the agent and the ticket', () => {
    const { text, blocks } = approvalRequestMessage(buildView());
    const shown = allText(blocks);
    expect(blocks[0]).toEqual({ type: 'header', text: expect.objectContaining({ type: 'plain_text', text: 'Approval needed: Service credit (sla breach)' }) });
    expect(shown).toContain('Acme GmbH `acc_acme`');
    expect(shown).toContain('Olga Ops (ops@acme.example)');
    expect(shown).toContain('Credit of €12.34 to the customer');
    expect(shown).toContain('Requested credit: €12.34');
    expect(shown).toContain('Computed credit (SLA × plan price): €10.00');
    expect(shown).toContain('Immediately (2026-03-16)');
    expect(shown).toContain('*Reason* `sla_breach`\nAPI was down for 6 hours on 10 March.');
    expect(shown).toContain('agent@support.example');
    expect(shown).toContain('<https://acme.zendesk.com/agent/tickets/4242|Zendesk ticket #4242>');
    expect(shown).toContain('service credit (sla_breach) for account acc_acme'); // describeChange
    expect(shown).toContain('0 of 1 approval');
    expect(text).toBe('Approval needed: Service credit (sla breach) for Acme GmbH (acc_acme). Credit of €12.34 to the customer.');
  });

  it("shows the billing provider's preview beside Lifecycle Desk's figure, and what the customer owes there", () => {
    const eur = (amount_minor: number) => ({ amount_minor, currency: 'EUR' });
    const shown = allText(
      approvalRequestMessage(buildView({ preview: { provider: 'stripe', amount: eur(4210), computed: eur(4210), outstanding: eur(9900) } })).blocks,
    );
    expect(shown).toContain('*Billing preview*\nStripe will invoice €42.10; Lifecycle Desk computed €42.10\nOutstanding balance at Stripe: €99.00');
    const failed = allText(
      approvalRequestMessage(buildView({ preview: { provider: 'stripe', amount: null, computed: null, unavailable: 'no live subscription' } })).blocks,
    );
    expect(failed).toContain('Stripe could not preview this change: no live subscription');
    expect(allText(approvalRequestMessage(buildView()).blocks)).not.toContain('Billing preview');
  });

  it('ends with Approve (primary) and Reject (danger) buttons that carry the record id and version', () => {
    const { blocks } = approvalRequestMessage(buildView());
    expect(blocks[blocks.length - 1]!.type).toBe('actions');
    const [approve, reject] = buttons(blocks);
    expect(approve).toMatchObject({ type: 'button', action_id: ACTION_APPROVE, style: 'primary', text: { type: 'plain_text', text: 'Approve' } });
    expect(reject).toMatchObject({ type: 'button', action_id: ACTION_REJECT, style: 'danger' });
    expect(JSON.parse(approve!.value!)).toEqual({ record_id: 'rec_0001', version: 3 });
    expect(parseApprovalButtonValue(reject!.value)).toEqual({ record_id: 'rec_0001', version: 3 });
    // One click for an ordinary request.
    expect(approve!.confirm).toBeUndefined();
  });

  it('formats money in the record currency: JPY has no decimals, charges read as charges', () => {
    const jpyCredit = approvalRequestMessage(
      buildView({
        record: buildRecord({
          amount: { amount_minor: -500, currency: 'JPY' },
          details: { period_start: '2026-03-10T00:00:00Z', period_end: '2026-03-11T00:00:00Z', requested_credit: { amount_minor: 500, currency: 'JPY' } },
        }),
      }),
    );
    expect(allText(jpyCredit.blocks)).toContain('Credit of ¥500 to the customer');
    expect(allText(jpyCredit.blocks)).toContain('Requested credit: ¥500');
    expect(allText(jpyCredit.blocks)).not.toMatch(/¥500\.00/);

    const upgrade = approvalRequestMessage(
      buildView({
        record: buildRecord({
          kind: 'upgrade',
          subtype: 'subscription',
          amount: { amount_minor: 150000, currency: 'JPY' },
          details: { from_plan: 'growth', to_plan: 'business', price_delta: { amount_minor: 150000, currency: 'JPY' } },
        }),
      }),
    );
    const shown = allText(upgrade.blocks);
    expect(shown).toContain('Customer pays ¥150,000');
    expect(shown).toContain('Price change per interval: +¥150,000');
    expect(shown).toContain('plan growth → business');
  });

  it('shows a termination fee that is waived, so the supervisor sees money given away', () => {
    const { blocks } = approvalRequestMessage(
      buildView({
        record: buildRecord({
          kind: 'termination',
          subtype: 'customer_initiated',
          amount: { amount_minor: 0, currency: 'EUR' },
          details: { fee_waived: true, early_termination_fee: { amount_minor: 50000, currency: 'EUR' } },
          effective: 'end_of_term',
          effective_at: '2026-04-01T00:00:00Z',
        }),
      }),
    );
    const shown = allText(blocks);
    expect(shown).toContain('Early-termination fee (*waived*): €500.00');
    expect(shown).toContain('No charge (€0.00)');
    expect(shown).toContain('End of the current term (2026-04-01)');
  });

  it('puts risk flags with their explanations in a warning section and asks to confirm the approval', () => {
    const view = buildView({
      record: buildRecord({ risk_flags: ['credit_above_mrr_share', 'requester_not_contact'] }),
      riskExplanations: [
        { flag: 'credit_above_mrr_share', message: 'Credit is 40% of MRR (limit 25%).' },
        { flag: 'requester_not_contact', message: 'x@other.example is not a known contact of acc_acme.' },
      ],
    });
    const { blocks } = approvalRequestMessage(view);
    const risk = blocks.find((b) => b.block_id === 'risk') as SlackTypes.SectionBlock;
    expect(risk.text!.text).toContain(':warning: *2 risk flags: check before approving*');
    expect(risk.text!.text).toContain('• *credit_above_mrr_share*: Credit is 40% of MRR (limit 25%).');
    expect(risk.text!.text).toContain('• *requester_not_contact*: x@other.example is not a known contact of acc_acme.');
    const [approve, reject] = buttons(blocks);
    expect(approve!.confirm).toMatchObject({ title: { text: 'Approve a flagged request?' }, confirm: { text: 'Approve' } });
    expect((approve!.confirm!.text as { text: string }).text).toContain('credit_above_mrr_share, requester_not_contact');
    expect(reject!.confirm).toBeUndefined();
  });

  it('says plainly when there are no risk flags', () => {
    const { blocks } = approvalRequestMessage(buildView());
    expect(blocks.some((b) => b.block_id === 'risk')).toBe(false);
    expect(allText(blocks)).toContain(':white_check_mark: No risk flags');
  });

  it('lists approvals so far on a two-approver rule', () => {
    const { blocks } = approvalRequestMessage(buildView({ approvalsRequired: 2, approvals: [{ user_id: 'U1', at: '2026-03-16T12:00:00Z' }] }));
    expect(allText(blocks)).toContain('1 of 2 approvals: <@U1> at 2026-03-16 12:00 UTC');
  });

  it('marks reminders and mentions the escalation group (and only a well-formed mention)', () => {
    const reminder = approvalRequestMessage(buildView({ reminder: true }));
    expect((reminder.blocks[0] as SlackTypes.HeaderBlock).text.text).toMatch(/^Reminder: approval needed/);
    expect(allText(reminder.blocks)).toContain('still waiting for a decision');

    const escalated = approvalRequestMessage(buildView({ reminder: true, escalationMention: '<!subteam^S123ABC>' }));
    expect(allText(escalated.blocks)).toContain('<!subteam^S123ABC> this request has waited past the escalation limit');
    expect(escalated.text.startsWith('<!subteam^S123ABC> Reminder: approval needed')).toBe(true);

    const forged = approvalRequestMessage(buildView({ escalationMention: '<https://evil.example|click>' }));
    expect(allText(forged.blocks)).not.toContain('<https://evil.example');
    expect(allText(forged.blocks)).toContain('&lt;https://evil.example|click&gt;');
  });

  it('escapes hostile user text so it cannot ping a channel, mention a user or forge a link', () => {
    const hostile = '<!channel> <https://evil.example|x> & <@U999>';
    const { text, blocks } = approvalRequestMessage(
      buildView({
        accountName: hostile,
        record: buildRecord({
          requester: { email: 'ops@acme.example', name: hostile },
          reason_text: hostile,
          requested_by: hostile,
          reason_code: '`<!here>`',
          risk_flags: ['<!everyone>'],
        }),
        riskExplanations: [{ flag: '<!everyone>', message: hostile }],
      }),
    );
    const shown = allText(blocks);
    // mrkdwn (and the fallback `text`) is where Slack parses mentions and links; plain_text is never parsed.
    const parsed = mrkdwnObjects(blocks).map((o) => o.text as string);
    for (const s of [...parsed, text]) {
      expect(s).not.toMatch(/<!channel>|<!here>|<!everyone>|<@U999>|<https:\/\/evil/);
    }
    expect(shown).toContain('&lt;!channel&gt; &lt;https://evil.example|x&gt; &amp; &lt;@U999&gt;');
    expect(text).toContain('&lt;!channel&gt;');
    // verbatim: Slack does not auto-link or auto-mention anything in our mrkdwn.
    expect(mrkdwnObjects(blocks).length).toBeGreaterThan(0);
    expect(mrkdwnObjects(blocks).every((o) => o.verbatim === true)).toBe(true);
  });

  it('does not link a ticket URL that is not http(s)', () => {
    const { blocks } = approvalRequestMessage(buildView({ ticketUrl: 'javascript:alert(1)' }));
    expect(allText(blocks)).not.toContain('javascript:');
    expect(allText(blocks)).toContain('Zendesk ticket #4242');
  });

  it('stays within Slack limits however long the input is', () => {
    const long = '&<>'.repeat(5000);
    const flags = Array.from({ length: 60 }, (_, i) => `flag_${i}_${'x'.repeat(80)}`);
    const { text, blocks } = approvalRequestMessage(
      buildView({
        accountName: long,
        record: buildRecord({ id: 'r'.repeat(200), reason_text: long, requester: { email: 'a@b.example', name: long }, risk_flags: flags }),
        riskExplanations: flags.map((flag) => ({ flag, message: long })),
        approvalsRequired: 2,
        approvals: [{ user_id: 'U1', at: '2026-03-16T12:00:00Z' }],
      }),
    );
    expect(blockKitProblems(blocks, 'message')).toEqual([]);
    expect(blocks.length).toBeLessThanOrEqual(50);
    for (const b of blocks) {
      if (b.type === 'section' && b.text) expect(b.text.text.length).toBeLessThanOrEqual(3000);
      if (b.type === 'header') expect(b.text.text.length).toBeLessThanOrEqual(150);
    }
    for (const btn of buttons(blocks)) expect(btn.value!.length).toBeLessThanOrEqual(2000);
    expect(text.length).toBeGreaterThan(0);
    expect(text.length).toBeLessThanOrEqual(3000);
    // Truncation never leaves half an entity behind.
    expect(allText(blocks)).not.toMatch(/&(?:a|am|l|g)?…/);
  });
});

describe('decisionMessage', () => {
  const base = { record: buildRecord(), accountName: 'Acme GmbH', ticketUrl: 'https://acme.zendesk.com/agent/tickets/4242', decidedAt: '2026-03-16T12:00:00Z' };

  it("shows who approved and when, the same facts, and no approval buttons (only the supervisors' Dispute…)", () => {
    const { text, blocks } = decisionMessage({ ...base, outcome: 'approved', decidedBy: ['U1', 'U2'] });
    expect(buttons(blocks).map((b) => b.action_id)).toEqual(['record_dispute_resolve']);
    expect(allText(blocks)).toContain(':white_check_mark: Approved by <@U1> and <@U2> at 2026-03-16 12:00 UTC');
    expect(allText(blocks)).toContain('Credit of €12.34 to the customer');
    expect(text).toContain('Approved by <@U1> and <@U2> at 2026-03-16 12:00 UTC');
    expect(blockKitProblems(blocks, 'message')).toEqual([]);
  });

  it('shows a rejection with its reason, escaped', () => {
    const { blocks } = decisionMessage({ ...base, outcome: 'rejected', decidedBy: ['U1'], reason: 'Not eligible <!channel>' });
    expect(allText(blocks)).toContain(':x: Rejected by <@U1> at 2026-03-16 12:00 UTC: Not eligible &lt;!channel&gt;');
    expect(actionsOf(blocks)).toHaveLength(0);
  });

  it('covers cancelled and changed records without a decider', () => {
    expect(allText(decisionMessage({ ...base, outcome: 'cancelled', decidedBy: [] }).blocks)).toContain('Cancelled at 2026-03-16 12:00 UTC');
    expect(allText(decisionMessage({ ...base, outcome: 'changed', decidedBy: [], reason: 'the ticket was edited' }).blocks)).toContain(
      'Changed since this was posted at 2026-03-16 12:00 UTC: the ticket was edited',
    );
  });
});

describe('rejectReasonModal', () => {
  const meta = { record_id: 'rec_0001', version: 3, channel: 'C0APPROVALS', message_ts: '1700000000.000100' };

  it('is a modal with one required multiline reason input and the message it answers in private_metadata', () => {
    const view = rejectReasonModal(meta);
    expect(view).toMatchObject({
      type: 'modal',
      callback_id: REJECT_MODAL_CALLBACK_ID,
      title: { type: 'plain_text', text: 'Reject request' },
      submit: { type: 'plain_text', text: 'Reject' },
      close: { type: 'plain_text', text: 'Cancel' },
    });
    expect(JSON.parse(view.private_metadata!)).toEqual(meta);
    expect(parseRejectModalMeta(view.private_metadata)).toEqual(meta);
    const input = view.blocks.find((b) => b.type === 'input') as SlackTypes.InputBlock;
    expect(input).toMatchObject({
      block_id: 'reason',
      optional: false,
      element: { type: 'plain_text_input', action_id: 'reason_input', multiline: true, max_length: 2000 },
    });
    expect(view.title.text.length).toBeLessThanOrEqual(24);
    expect(blockKitProblems(view.blocks, 'modal')).toEqual([]);
  });

  it('refuses metadata that is not ours', () => {
    expect(parseRejectModalMeta('{"record_id":1}')).toBeNull();
    expect(parseRejectModalMeta('not json')).toBeNull();
    expect(parseRejectModalMeta(undefined)).toBeNull();
  });
});

describe('parseApprovalButtonValue', () => {
  it('accepts only {record_id, version}', () => {
    expect(parseApprovalButtonValue('{"record_id":"r1","version":0}')).toEqual({ record_id: 'r1', version: 0 });
    expect(parseApprovalButtonValue('{"record_id":"r1","version":"1"}')).toBeNull();
    expect(parseApprovalButtonValue('{"record_id":"","version":1}')).toBeNull();
    expect(parseApprovalButtonValue('r1:1')).toBeNull();
    expect(parseApprovalButtonValue(42)).toBeNull();
  });
});

describe('appHomeView', () => {
  const item = (i: number): PendingApprovalItem => ({
    record: buildRecord({ id: `rec_${i}`, risk_flags: i === 0 ? ['status_flip_flop'] : [] }),
    accountName: `Customer ${i}`,
    ticketUrl: `https://acme.zendesk.com/agent/tickets/${i}`,
    approvals: 1,
    approvalsRequired: 2,
    messageLink: 'https://fake-workspace.slack.com/archives/C0APPROVALS/p1700000000000100',
  });

  it('shows an empty state when nothing waits', () => {
    const view = appHomeView([]);
    expect(view.type).toBe('home');
    expect(allText(view.blocks)).toContain('Nothing is waiting for your approval.');
  });

  it('lists pending approvals with money, approvals so far, flags and links', () => {
    const view = appHomeView([item(0), item(1)]);
    const shown = allText(view.blocks);
    expect(shown).toContain('Waiting for your approval (2)');
    expect(shown).toContain('*Service credit (sla breach)* for Customer 0 `acc_acme`');
    expect(shown).toContain('1 of 2 approvals');
    expect(shown).toContain(':warning: status_flip_flop');
    expect(shown).toContain('<https://fake-workspace.slack.com/archives/C0APPROVALS/p1700000000000100|Open the request to decide>');
    expect(blockKitProblems(view.blocks, 'home')).toEqual([]);
  });

  it('stays under 100 blocks and says how many more there are', () => {
    const view = appHomeView(Array.from({ length: 150 }, (_, i) => item(i)));
    expect(view.blocks.length).toBeLessThanOrEqual(100);
    expect(allText(view.blocks)).toContain(`…and ${150 - HOME_MAX_ITEMS} more waiting`);
    expect(blockKitProblems(view.blocks, 'home')).toEqual([]);
  });
});

describe('accountSummaryBlocks', () => {
  it('lists recent records with kind, state, amount and created date', () => {
    const records = [
      buildRecord(),
      buildRecord({
        id: 'rec_0002',
        kind: 'upgrade',
        subtype: 'subscription',
        state: 'applied',
        amount: { amount_minor: 5000, currency: 'EUR' },
        created_at: '2026-02-01T09:00:00Z',
      }),
    ];
    const { text, blocks } = accountSummaryBlocks('Account acc_acme <Acme>', records);
    const shown = allText(blocks);
    expect(shown).toContain('*Account acc_acme &lt;Acme&gt;*');
    expect(shown).toContain('*Service credit (sla breach)* · `pending_approval` · Credit of €12.34 to the customer · created 2026-03-16');
    expect(shown).toContain('*Upgrade (subscription)* · `applied` · Customer pays €50.00 · created 2026-02-01');
    expect(text).toBe('Account acc_acme &lt;Acme&gt;: 2 records.');
    expect(blockKitProblems(blocks, 'message')).toEqual([]);
  });

  it('says when there is nothing, and caps long histories', () => {
    expect(allText(accountSummaryBlocks('Ticket 99', []).blocks)).toContain('No lifecycle records found.');
    const many = accountSummaryBlocks(
      'acc',
      Array.from({ length: 35 }, (_, i) => buildRecord({ id: `rec_${i}` })),
    );
    expect(many.blocks.length).toBeLessThanOrEqual(50);
    expect(allText(many.blocks)).toContain('…and 15 more.');
  });
});

describe('escapeMrkdwn', () => {
  it('escapes exactly &, < and >', () => {
    expect(escapeMrkdwn(`a & b < c > d "e" 'f'`)).toBe(`a &amp; b &lt; c &gt; d "e" 'f'`);
  });
});
