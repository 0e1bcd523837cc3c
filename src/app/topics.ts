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
} as const;

export type Topic = (typeof TOPICS)[keyof typeof TOPICS];
export const ALL_TOPICS: readonly Topic[] = Object.values(TOPICS);
