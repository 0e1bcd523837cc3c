import type { TicketIntake } from '../../src/app/ingest-ticket';

/** A complete downgrade request as the Zendesk mapper would produce it; override any field. */
export const downgradeRequest = (accountId = 'acc_acme', overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  kind: 'downgrade',
  subtype: 'subscription',
  account_id: accountId,
  requested_by: 'agent@support.example',
  reason_code: 'budget',
  details: { to_plan: 'starter' },
  ...overrides,
});

/** A verified delivery of one ticket version; `req` null means an event without field values. */
export const ticketIntake = (ticketId: string, key: string, req: Record<string, unknown> | null, updatedAt = '2026-03-16T10:00:00Z'): TicketIntake => ({
  source: 'zendesk',
  deliveryKey: key,
  ticketId,
  ticketUpdatedAt: updatedAt,
  mapped: req === null ? null : { relevant: true, request: req, mappingProblems: [] },
});
