/**
 * Outbox topics. Each outbox row becomes exactly one job on the queue of the same name, with the
 * row's key as its job id (BullMQ ids may not contain ':', so keys use '.').
 */
export const TOPICS = {
  /** Read a ticket from the Zendesk API and ingest it (event webhooks carry no field values). */
  zendeskFetch: 'zendesk.fetch',
  /** Bring the ticket's internal note and tags in line with the record. */
  zendeskSync: 'zendesk.sync',
  /** A note on a ticket that has no record (a request whose kind could not be told). */
  zendeskNote: 'zendesk.note',
  /** Compute risk flags and apply the approval policy to a submitted record. */
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
  /** File the goodwill credit of one period of an accepted retention discount, once the period has ended. */
  retentionCredit: 'retention.credit',
  /** Create the win-back follow-up (Zendesk ticket or Slack reminder) of a terminated account whose offer was declined. */
  retentionWinBack: 'retention.winback',
  /** Look for overdue records (a repeating job, not fed by the outbox). */
  watchdogScan: 'watchdog.scan',
} as const;

export type Topic = (typeof TOPICS)[keyof typeof TOPICS];
export const ALL_TOPICS: readonly Topic[] = Object.values(TOPICS);
