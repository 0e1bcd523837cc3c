/**
 * Outbox topics. Each outbox row becomes one job named after its topic, on the queue of the
 * outside system it talks to (src/jobs/queues.ts), with the row's key as its job id (BullMQ ids
 * may not contain ':', so keys use '.'), except ticket syncs, whose job id is the record's.
 */
export const TOPICS = {
  /** Read a ticket from the Zendesk API and ingest it (event webhooks carry no field values). */
  zendeskFetch: 'zendesk.fetch',
  /** Bring the ticket's internal note and tags in line with the record (one job per record at a time). */
  zendeskSync: 'zendesk.sync',
  /** A note on a ticket that has no record (a request whose kind could not be told). */
  zendeskNote: 'zendesk.note',
  /**
   * Everything that touches only our database, in one transaction: risk flags and the approval
   * policy for a submitted record, and, when it is auto-approved and billing is the built-in
   * ledger, the ledger posting and the move to applied.
   */
  recordAdvance: 'record.advance',
  /** What `record.advance` was called before; rows queued under this name still run (same processor). */
  policyEvaluate: 'policy.evaluate',
  /** Post (or re-post, as a reminder or escalation) the approval request in Slack. */
  approvalRequest: 'approval.request',
  /** Update the Slack approval message after a decision. */
  approvalUpdate: 'approval.update',
  /** Apply an approved record to billing (or schedule it for its effective date). */
  billingApply: 'billing.apply',
  /** Undo at the billing provider what was scheduled there for a record that was then cancelled. */
  billingUnschedule: 'billing.unschedule',
  /** Email the customer about an outcome. */
  emailSend: 'email.send',
  /** Tell the team in Slack that something needs a human. */
  slackAlert: 'slack.alert',
  /** Post the one approval request of an incident credit batch in Slack. */
  incidentApproval: 'incident.approval',
  /** Bring an incident batch's Slack message in line with its credits' progress (re-queued until they settle). */
  incidentProgress: 'incident.progress',
  /** File the goodwill credit of one period of an accepted retention discount, once the period has ended. */
  retentionCredit: 'retention.credit',
  /** Create the win-back ticket in Zendesk for a terminated account whose offer was declined (policy `win_back.via: zendesk`). */
  retentionWinBackTicket: 'retention.winback_ticket',
  /** Post the win-back reminder in Slack for a terminated account whose offer was declined (policy `win_back.via: slack`). */
  retentionWinBackReminder: 'retention.winback_reminder',
  /** Look for overdue records (a repeating job, not fed by the outbox). */
  watchdogScan: 'watchdog.scan',
  /** Erase personal data past its retention (a repeating job, not fed by the outbox). */
  retentionPurge: 'retention.purge',
} as const;

export type Topic = (typeof TOPICS)[keyof typeof TOPICS];
export const ALL_TOPICS: readonly Topic[] = Object.values(TOPICS);
