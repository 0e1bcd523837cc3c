import { incidentApprovalMessage, incidentDecidedMessage, parseIncidentButtonValue } from '../../src/integrations/slack/incident.blocks';
import type { IncidentBatchView } from '../../src/integrations/slack/incident.blocks';
import { summariseBatch } from '../../src/records/incidents';
import type { BatchCredit } from '../../src/records/incidents';
import { SLACK_LIMITS } from '../../src/integrations/slack/blocks';

const BATCH = '5f0e7c1a-1d2b-4c3d-8e4f-5a6b7c8d9e0f';

function view(credits: BatchCredit[], over: Partial<IncidentBatchView['batch']> = {}): IncidentBatchView {
  return {
    incident: {
      id: 'a1b2c3d4-0000-4000-8000-000000000000',
      reference: 'INC-<!channel>',
      starts_at: '2026-03-10T00:00:00.000Z',
      ends_at: '2026-03-10T06:00:00.000Z',
      service: 'Public API',
      plans: [],
      measured_uptime_percent: null,
      filters: [],
      reason_code: 'outage',
      created_by: 'agent@support.example',
      created_at: '2026-04-05T00:00:00.000Z',
      updated_at: '2026-04-05T00:00:00.000Z',
    },
    batch: {
      id: BATCH,
      incident_id: 'a1b2c3d4-0000-4000-8000-000000000000',
      seq: 1,
      status: 'pending',
      approvals_required: 1,
      approvers: { user_ids: ['U0LDSUP01'], user_groups: [] },
      summary: summariseBatch(credits),
      requested_by: 'agent@support.example',
      channel: 'C1',
      message_ts: '1.1',
      reason: null,
      created_at: '2026-04-05T00:00:00.000Z',
      decided_at: null,
      ...over,
    },
    decisions: [],
    accountNames: new Map(credits.map((c, i) => [c.account_id, i === 0 ? 'Evil <@U123> & Co' : `Customer ${i}`])),
  };
}

const credit = (i: number, amount: number, currency: string, flagged = false): BatchCredit => ({
  account_id: `acc_${i}`,
  credit: { amount_minor: amount, currency },
  uptime_percent: 99.1935,
  risk: flagged ? [{ flag: 'credit_above_mrr_share', message: `credit is more than 50% of MRR (${i})` }] : [],
});

const actionIds = (m: { blocks: unknown[] }) =>
  (m.blocks as { type: string; elements?: { action_id: string }[] }[]).find((b) => b.type === 'actions')?.elements?.map((e) => e.action_id) ?? [];

it('shows the accounts, totals per currency, largest credits and flagged accounts, escaped', () => {
  const m = incidentApprovalMessage(view([credit(0, 990, 'EUR', true), credit(1, 4500, 'JPY'), credit(2, 1500, 'JPY'), credit(3, 10_990, 'USD')]));
  const text = JSON.stringify(m.blocks);
  expect(text).toContain('Approval needed: incident credits for 4 accounts');
  expect(text).toContain('€9.90');
  expect(text).toContain('¥6,000');
  expect(text).toContain('$109.90');
  expect(text).toContain('Largest credits');
  expect(text).toContain('credit is more than 50% of MRR (0)');
  expect(text).not.toContain('<!channel>');
  expect(text).not.toContain('<@U123>');
  expect(actionIds(m)).toEqual(['incident_approve_all', 'incident_approve_unflagged', 'incident_reject']);
  const approveAll = (m.blocks as { type: string; elements?: { action_id: string; value: string; confirm?: unknown }[] }[]).find((b) => b.type === 'actions')!
    .elements![0]!;
  expect(approveAll.confirm).toBeDefined();
  expect(parseIncidentButtonValue(approveAll.value)).toBe(BATCH);
});

it('offers no "except flagged" button when nothing is flagged, and stays within Slack limits for thousands of credits', () => {
  expect(actionIds(incidentApprovalMessage(view([credit(1, 100, 'EUR')])))).toEqual(['incident_approve_all', 'incident_reject']);
  const many = Array.from({ length: 5000 }, (_, i) =>
    credit(i, 100 + i, ['EUR', 'USD', 'JPY', 'GBP', 'CHF', 'SEK', 'NOK', 'DKK', 'PLN', 'CZK'][i % 10]!, i % 7 === 0),
  );
  const m = incidentApprovalMessage(view(many));
  expect(m.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.messageBlocks);
  for (const b of m.blocks as { text?: { text: string }; fields?: { text: string }[] }[]) {
    if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    for (const f of b.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionField);
  }
  expect(JSON.stringify(m.blocks)).toContain(`…and ${Math.ceil(5000 / 7) - 10} more`);
});

it('once decided: who decided, no buttons, progress by state and failed accounts with how to retry', () => {
  const v = view([credit(1, 100, 'EUR'), credit(2, 100, 'EUR')], { status: 'approved', decided_at: '2026-04-05T01:00:00.000Z' });
  const m = incidentDecidedMessage({
    ...v,
    decisions: [{ approver_id: 'U0LDSUP01', decision: 'approve_all', reason: null, decided_at: '2026-04-05T01:00:00.000Z' }],
    counts: { confirmed: 1, failed: 1 },
    failed: ['acc_2'],
  });
  const text = JSON.stringify(m.blocks);
  expect(actionIds(m)).toEqual([]);
  expect(text).toContain('Approved by <@U0LDSUP01> at 2026-04-05 01:00 UTC');
  expect(text).toContain('1 of 2 credited and emailed');
  expect(text).toContain('confirmed 1 · failed 1');
  expect(text).toContain('lifecycle-desk incidents retry');
  const rejected = incidentDecidedMessage({
    ...view([credit(1, 100, 'EUR')], { status: 'rejected', reason: 'duplicate <!here>' }),
    decisions: [{ approver_id: 'U0LDSUP02', decision: 'reject', reason: 'duplicate', decided_at: '2026-04-05T01:00:00.000Z' }],
    counts: { rejected: 1 },
    failed: [],
  });
  expect(JSON.stringify(rejected.blocks)).toContain('Rejected by <@U0LDSUP02>');
  expect(JSON.stringify(rejected.blocks)).not.toContain('<!here>');
  expect(JSON.stringify(rejected.blocks)).not.toContain('Progress');
});
