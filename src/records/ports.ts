import type { Account } from './accounts';
import type { AuditEvent, AuditEventDraft } from './audit';
import type { Kind, LifecycleRecord } from './kinds';
import type { Money } from './money';
import type { RiskFacts, RiskThresholds } from './risk';
import type { BillingBook, BillingEffect, BillingPhase, ConfirmedMoney, LedgerLeg, SubscriptionFacts } from './billing';
import type { BatchDecision, BatchSummary, IncidentFilter } from './incidents';

/**
 * Ports the application layer needs. The consumer owns these interfaces; `src/db` and
 * `src/integrations` implement them.
 */

export interface Clock {
  now(): Date;
}
export interface IdGenerator {
  newId(): string;
}

/** A message for the outbox: published to the job queues after the transaction commits. */
export interface OutboxMessage {
  /** Queue/topic, e.g. `billing.apply`, `zendesk.sync`, `email.send`, `slack.approval`. */
  readonly topic: string;
  /** Unique per logical side effect; the same key twice is stored once. Becomes the job id. */
  readonly key: string;
  readonly payload: Record<string, unknown>;
  /** Publish no earlier than this instant (end-of-term changes, reminders). */
  readonly available_at?: string;
}

export interface RecordRepository {
  insert(record: LifecycleRecord): Promise<void>;
  /** Writes `record` if the stored version is still `expectedVersion`; otherwise throws a `conflict` AppError. */
  update(record: LifecycleRecord, expectedVersion: number): Promise<void>;
  get(id: string): Promise<LifecycleRecord | null>;
  /** Reads the record and locks its row until the transaction ends (serialises decisions on it). */
  getForUpdate(id: string): Promise<LifecycleRecord | null>;
  /** Locks these records' rows until the transaction ends, in id order (one statement). */
  lockMany(ids: readonly string[]): Promise<void>;
  /** Inserts new records in one statement. */
  insertMany(records: readonly LifecycleRecord[]): Promise<void>;
  /** The reversal of a record that is not rejected or cancelled, if one was filed. */
  liveReversalOf(id: string): Promise<LifecycleRecord | null>;
  /** Per ticket, its newest record in any state, reversals aside (tickets without records are absent). */
  findLatestByTickets(ticketIds: readonly string[]): Promise<Map<string, LifecycleRecord>>;
  /**
   * Serialises work on these tickets until the transaction ends (two deliveries of one ticket at
   * once). Locks are taken in sorted order, so two callers locking overlapping sets cannot deadlock.
   */
  lockTickets(ticketIds: readonly string[]): Promise<void>;
}

export interface DeliveryClaim {
  readonly source: string;
  readonly key: string;
  /** A second key that must also be new (what the sender's signature covers); a claim whose either key is known is a replay. */
  readonly signedKey?: string | null;
  readonly ticketId: string | null;
  readonly ticketUpdatedAt: string | null;
}

export interface DeliveryOutcome {
  readonly source: string;
  readonly key: string;
  readonly outcome: string;
  readonly recordId: string | null;
}

export interface DeliveryRepository {
  /**
   * Records deliveries in one statement (in key order, so concurrent claims cannot deadlock);
   * returns the keys claimed now. A key already recorded (a retry or replay) is not returned.
   */
  claimMany(deliveries: readonly DeliveryClaim[]): Promise<Set<string>>;
  setOutcomes(outcomes: readonly DeliveryOutcome[]): Promise<void>;
  /** Per ticket, the newest ticket updated_at already applied (tickets never applied are absent). */
  newestTicketUpdates(source: string, ticketIds: readonly string[]): Promise<Map<string, string>>;
}

/** What a ticket last asked for, so a repeated delivery of the same request (a trigger echo) is recognised. */
export interface TicketRequestState {
  readonly source: string;
  readonly ticket_id: string;
  /** Fingerprint of the request fields the ticket last carried. */
  readonly fingerprint: string;
  /** Whether the ticket last carried the re-request tag (a re-request counts when the tag appears). */
  readonly rerequest: boolean;
}

export interface TicketRequestRepository {
  /** The stored state of these tickets (tickets never seen are absent). */
  getMany(source: string, ticketIds: readonly string[]): Promise<Map<string, TicketRequestState>>;
  /** Inserts or replaces the states, in one statement. */
  saveMany(states: readonly TicketRequestState[]): Promise<void>;
}

export interface AccountRepository {
  get(id: string): Promise<Account | null>;
  /** The accounts that exist among `ids`, by id. */
  getMany(ids: readonly string[]): Promise<Map<string, Account>>;
  /** Reads the account and locks its row until the transaction ends (applies to one account queue up). */
  getForUpdate(id: string): Promise<Account | null>;
  /** The account billed as this provider customer, locked until the transaction ends; null when none (or several) is. */
  findByBillingCustomerForUpdate(customerId: string): Promise<Account | null>;
  /** Replaces the account's mutable fields; optimistic on `version` when given. */
  update(account: Account): Promise<void>;
  /** Inserts or replaces accounts (the import path). */
  upsertMany(accounts: readonly Account[]): Promise<void>;
}

export interface AuditAppender {
  /** Chains and appends events; appends for one account are serialised, other accounts do not wait. */
  append(drafts: readonly AuditEventDraft[]): Promise<AuditEvent[]>;
  /**
   * Locks these accounts' chains until the transaction ends, in sorted order. A transaction that
   * will append to several accounts in steps takes them all first, so it cannot deadlock another.
   */
  lockHeads(accountIds: readonly string[]): Promise<void>;
  /** The newest event of a type for a record (e.g. the rejection, for its reason). */
  latestForRecord(recordId: string, type: string): Promise<AuditEvent | null>;
}

export interface OutboxWriter {
  add(messages: readonly OutboxMessage[]): Promise<void>;
  /**
   * Marks these rows done (published too, if the relay had not got to them) in the caller's
   * transaction, so a job's outbox row completes in the job's last transaction. `error` is kept
   * for a job that was given up.
   */
  complete(keys: readonly string[], error?: string | null): Promise<void>;
  /** Marks done every open ticket-sync row of a record up to `version` (one sync covers them all). */
  completeTicketSyncs(recordId: string, version: number): Promise<void>;
}

/** What the database knows about a record's account and agent that its risk flags depend on. */
export interface RiskFactsReader {
  facts(record: LifecycleRecord, now: Date, thresholds: RiskThresholds): Promise<RiskFacts>;
}

/** Everything written inside one database transaction. */
export interface UnitOfWork {
  readonly records: RecordRepository;
  readonly accounts: AccountRepository;
  readonly audit: AuditAppender;
  readonly outbox: OutboxWriter;
  readonly deliveries: DeliveryRepository;
  readonly ticketRequests: TicketRequestRepository;
  readonly ticketSync: TicketSyncRepository;
  readonly billing: BillingAdjustmentRepository;
  readonly ledger: LedgerRepository;
  readonly billingBook: BillingBookRepository;
  readonly billingPreviews: BillingPreviewRepository;
  readonly emails: EmailDeliveryRepository;
  readonly approvals: ApprovalRepository;
  readonly risk: RiskFactsReader;
  readonly incidents: IncidentRepository;
}

export interface TransactionRunner {
  /** Runs `work` in one transaction: all of its writes commit together or none do. */
  transaction<T>(work: (uow: UnitOfWork) => Promise<T>): Promise<T>;
}

/** A change to a helpdesk ticket, applied as one request. */
export interface TicketUpdate {
  /** Private comment visible to agents only. */
  readonly internalNote?: string;
  readonly addTags?: readonly string[];
  readonly removeTags?: readonly string[];
  readonly status?: 'open' | 'pending' | 'hold' | 'solved';
}

/** The helpdesk as the use-cases see it (Zendesk implements it). Failures are AppErrors with `retryable`. */
export interface Helpdesk {
  updateTicket(ticketId: string, update: TicketUpdate): Promise<void>;
}

/** What a ticket last showed for a record. */
export interface TicketSyncState {
  readonly record_id: string;
  readonly ticket_id: string;
  readonly synced_version: number;
  readonly note_hash: string | null;
}

export interface TicketSyncRepository {
  /** What the ticket last showed (no lock: the Zendesk call that follows runs outside any transaction). */
  get(recordId: string): Promise<TicketSyncState | null>;
  /** Saves the state unless a newer version is already saved; false when it was (nothing written). */
  saveIfNewer(state: TicketSyncState & { tags: readonly string[] }): Promise<boolean>;
}

/** What billing must do for one effect of a record. Amounts come from the domain, in minor units. */
export interface BillingAdjustment {
  /** `billing.<record>.<step>`: derived from record and step, so the same effect always carries the same key. */
  readonly idempotencyKey: string;
  readonly recordId: string;
  readonly accountId: string;
  readonly billingCustomerId: string | null;
  readonly kind: Kind;
  readonly subtype: string;
  /** The account's currency. */
  readonly currency: string;
  /** What to do (see `records/billing.ts`). */
  readonly effect: BillingEffect;
  /** `apply` at the effective instant; `schedule` when told in advance; `unschedule` to take that back. */
  readonly phase: BillingPhase;
  /** The instant the change takes effect (ISO 8601), or null for at once. */
  readonly effectiveAt: string | null;
  /** End of the account's current term: the ledger's period end. */
  readonly termEnd: string;
  readonly description: string;
}

/** What the provider confirmed it did. Stored with the adjustment; emails and the ledger use only this. */
export interface BillingResult {
  /** The provider's reference for what it did (ledger transaction id, Stripe object ids…). */
  readonly providerRef: string;
  /** Money the provider confirmed, in its own amounts. */
  readonly money?: readonly ConfirmedMoney[];
  /** The subscription as the provider reported it afterwards. */
  readonly subscription?: SubscriptionFacts;
  /** What the customer owes at the provider afterwards (terminations). */
  readonly outstanding?: Money | null;
  /** The price the provider now bills per period (plan changes, reactivations). */
  readonly price?: Money | null;
}

/** The provider's own figure for a record before it is approved. */
export interface BillingPreview {
  readonly provider: string;
  /** What the provider will invoice now (positive) or credit (negative); null when it has nothing to preview. */
  readonly amount: Money | null;
  /** What the customer owes at the provider today (terminations). */
  readonly outstanding?: Money | null;
  /** The proration instant previewed; apply uses the same one. */
  readonly prorationDate?: string | null;
  /** Why there is no figure (the provider could not preview). */
  readonly unavailable?: string | null;
}

/** A provider's current state for one account, for reconciliation. */
export interface ProviderAccountState {
  /** The plan subscription (the one whose price is a catalog plan), or null when none is live. */
  readonly subscription: {
    readonly id: string;
    readonly plan: string | null;
    readonly cancel_at: string | null;
    readonly paused: boolean;
    readonly pause_resumes_at: string | null;
  } | null;
  /** Live subscriptions that bill a catalog plan (more than one is itself a problem). */
  readonly planSubscriptions: number;
  /** Customer balance changed by adjustments and credit notes (negative: credit), in domain minor units. */
  readonly balance: Money | null;
}

/** Failures are AppError('provider_failed', …, { retryable }). */
export interface BillingProvider {
  readonly name: 'ledger' | 'stripe' | 'webhook';
  /**
   * True when the provider is our own database (the ledger): `applyAdjustment` and `preview` call
   * nothing outside it, so they may run inside a transaction, and a record is applied in the
   * transaction that approves it. A remote provider is called between transactions, in a job of
   * its own.
   */
  readonly local?: boolean;
  /** Carries out one effect; idempotent per `adjustment.idempotencyKey`. */
  applyAdjustment(adjustment: BillingAdjustment): Promise<BillingResult>;
  /**
   * Optional: told as soon as a change is scheduled for a later instant (`effectiveAt`), for
   * providers that bill on their own clock. Stripe renews a subscription at the period boundary,
   * so a cancellation or downgrade first sent at the term end would take effect one period late.
   * `applyAdjustment` still runs at the effective instant. Idempotent per adjustment key.
   */
  scheduleAdjustment?(adjustment: BillingAdjustment): Promise<BillingResult>;
  /** Optional: undoes `scheduleAdjustment` when the scheduled record is cancelled before it runs. Idempotent per key. */
  unscheduleAdjustment?(adjustment: BillingAdjustment): Promise<BillingResult>;
  /** Optional: the provider's own figure for an effect before approval (same proration instant as apply). */
  preview?(adjustment: BillingAdjustment): Promise<BillingPreview>;
  /** Optional: the provider's state of an account (null when the provider cannot be read). */
  accountState?(account: { readonly id: string; readonly billingCustomerId: string | null; readonly currency: string }): Promise<ProviderAccountState | null>;
}

/** A billing adjustment as stored before (and after) the provider is called. */
export interface StoredAdjustment {
  readonly idempotency_key: string;
  readonly status: 'pending' | 'succeeded' | 'failed';
  readonly provider_ref: string | null;
  readonly attempts: number;
  readonly result: BillingResult | null;
}

/** A succeeded adjustment of a record, with what the provider confirmed. */
export interface ConfirmedAdjustment {
  readonly idempotency_key: string;
  readonly step: string;
  readonly effect: BillingEffect;
  readonly result: BillingResult;
}

export interface BillingAdjustmentRepository {
  /** Stores the adjustment if it is new (status pending) and returns what is stored under its key. */
  ensure(adjustment: BillingAdjustment, provider: string, step: string): Promise<StoredAdjustment>;
  get(key: string): Promise<StoredAdjustment | null>;
  /** Marks the adjustment succeeded with what the provider confirmed; false when it already was (a concurrent or repeated run). */
  markSucceeded(key: string, result: BillingResult): Promise<boolean>;
  markAttempt(key: string, error: string | null, final: boolean): Promise<void>;
  /** The record's succeeded adjustments, oldest first. */
  confirmed(recordId: string): Promise<ConfirmedAdjustment[]>;
  /**
   * Whether an adjustment of the account's records (or of a merge into it) was pending and touched
   * since `since`: a provider call may be in flight. Older pending rows are calls that died and
   * wait for a retry; they must not hold anything up for ever.
   */
  pendingForAccount(accountId: string, since: Date): Promise<boolean>;
}

/** The double-entry ledger: every posting balanced, append-only, once per key. */
export interface LedgerRepository {
  /** Posts legs under `key`; false when the key was already posted (nothing written). */
  post(entry: { key: string; recordId: string | null; accountId: string; description: string; legs: readonly LedgerLeg[] }): Promise<boolean>;
  /** Debits minus credits of a ledger account in a currency. */
  balance(ledgerAccount: string, currency: string): Promise<number>;
}

/** The billing book (what the provider has been told, per account). */
export interface BillingBookRepository {
  /** The account's book, locked until the transaction ends; null when none was written yet. */
  getForUpdate(accountId: string): Promise<BillingBook | null>;
  get(accountId: string): Promise<BillingBook | null>;
  save(book: BillingBook, recordId: string | null): Promise<void>;
}

export interface BillingPreviewRepository {
  save(recordId: string, preview: BillingPreview & { readonly computed: Money | null; readonly difference: Money | null }): Promise<void>;
  get(recordId: string): Promise<StoredPreview | null>;
}

export interface StoredPreview extends BillingPreview {
  readonly computed: Money | null;
  readonly difference: Money | null;
  readonly created_at: string;
}

export interface OutgoingEmail {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** Deterministic per record and outcome, so a duplicate is recognisable downstream. */
  readonly messageId: string;
}

/**
 * Customer messages posted as a public reply on the ticket instead of emailed (EMAIL_CHANNEL=
 * zendesk_comment): the helpdesk emails the ticket's requester itself, so the customer's reply
 * threads into the ticket. Failures are AppError('provider_failed', …, { retryable }).
 */
export interface PublicReplyChannel {
  postPublicReply(ticketId: string, message: { readonly subject: string; readonly text: string; readonly html: string }): Promise<{ response: string }>;
}

/** Failures are AppError('provider_failed', …, { retryable }). */
export interface EmailSender {
  send(message: OutgoingEmail): Promise<{ messageId: string; response: string }>;
}

export type EmailDeliveryStatus = 'pending' | 'sending' | 'sent' | 'skipped';

export interface EmailDeliveryRepository {
  /** Stores the delivery if new (pending) and returns its status. */
  ensure(key: string, recordId: string, outcome: string, messageId: string): Promise<EmailDeliveryStatus>;
  /** Takes the right to send: true when it was pending, or when another sender's lease expired. */
  claim(key: string, leaseMs: number): Promise<boolean>;
  /** Gives the right back after a failed attempt. */
  release(key: string): Promise<void>;
  markSent(key: string, response: string, subject: string): Promise<void>;
  /** Marks the delivery audited; true the first time (so the audit event is written once). */
  markAudited(key: string): Promise<{ subject: string | null; message_id: string } | null>;
  markSkipped(key: string, why: string): Promise<void>;
}

export interface ApproverSet {
  readonly user_ids: readonly string[];
  readonly user_groups: readonly string[];
}

export interface ApprovalRequest {
  readonly record_id: string;
  readonly rule: string;
  readonly approvals_required: number;
  readonly approvers: ApproverSet;
  readonly escalation: ApproverSet;
  readonly risk: readonly { readonly flag: string; readonly message: string }[];
  readonly reminder_after_hours: number | null;
  readonly escalate_after_hours: number | null;
  readonly channel: string | null;
  readonly messages: readonly { readonly ts: string; readonly kind: string }[];
  readonly requested_at: string;
  readonly decided_at: string | null;
  readonly outcome: string | null;
}

export interface ApprovalDecision {
  readonly approver_id: string;
  readonly decision: 'approve' | 'reject';
  readonly reason: string | null;
  readonly record_version: number;
  readonly decided_at: string;
}

export interface ApprovalRepository {
  create(request: ApprovalRequest): Promise<void>;
  get(recordId: string): Promise<ApprovalRequest | null>;
  decisions(recordId: string): Promise<ApprovalDecision[]>;
  addDecision(recordId: string, decision: ApprovalDecision): Promise<void>;
  close(recordId: string, outcome: string, at: string): Promise<void>;
  addMessage(recordId: string, channel: string, ts: string, kind: string): Promise<void>;
}

/** An incident as stored (README "Incidents"). */
export interface StoredIncident {
  readonly id: string;
  readonly reference: string;
  readonly starts_at: string;
  readonly ends_at: string;
  readonly service: string;
  /** Plans the service is part of; empty: any plan. */
  readonly plans: readonly string[];
  readonly measured_uptime_percent: number | null;
  /** Every account filter posted so far (the incident covers their union). */
  readonly filters: readonly IncidentFilter[];
  readonly reason_code: string;
  readonly created_by: string;
  readonly created_at: string;
  readonly updated_at: string;
}

export type BatchStatus = 'pending' | 'approved' | 'approved_unflagged' | 'rejected';

/** One approval request covering the credits one posting of an incident created. */
export interface IncidentBatch {
  readonly id: string;
  readonly incident_id: string;
  readonly seq: number;
  readonly status: BatchStatus;
  readonly approvals_required: number;
  readonly approvers: ApproverSet;
  readonly summary: BatchSummary;
  readonly requested_by: string;
  readonly channel: string | null;
  readonly message_ts: string | null;
  readonly reason: string | null;
  readonly created_at: string;
  readonly decided_at: string | null;
}

export interface IncidentBatchDecision {
  readonly approver_id: string;
  readonly decision: BatchDecision;
  readonly reason: string | null;
  readonly decided_at: string;
}

export interface IncidentCreditLink {
  readonly account_id: string;
  readonly record_id: string;
  readonly batch_id: string;
  readonly flagged: boolean;
}

export interface IncidentRepository {
  /** Inserts the incident unless one with its reference exists, then reads it locked until the transaction ends. */
  upsertForUpdate(incident: StoredIncident): Promise<StoredIncident>;
  get(id: string): Promise<StoredIncident | null>;
  saveFilters(id: string, filters: readonly IncidentFilter[], at: string): Promise<void>;
  /** Active accounts selected by any of the filters, restricted to `plans` when not empty. */
  matchAccounts(filters: readonly IncidentFilter[], plans: readonly string[]): Promise<Account[]>;
  /** Accounts already credited for the incident. */
  creditedAccounts(incidentId: string): Promise<Set<string>>;
  addCredits(incidentId: string, links: readonly IncidentCreditLink[], at: string): Promise<void>;
  nextBatchSeq(incidentId: string): Promise<number>;
  createBatch(batch: IncidentBatch): Promise<void>;
  getBatch(id: string): Promise<IncidentBatch | null>;
  /** Reads the batch and locks it until the transaction ends (decisions on one batch run one at a time). */
  getBatchForUpdate(id: string): Promise<IncidentBatch | null>;
  batchCredits(batchId: string): Promise<IncidentCreditLink[]>;
  /** The credit of one account for an incident (by id or reference), or null. */
  creditFor(incidentIdOrReference: string, accountId: string): Promise<IncidentCreditLink | null>;
  decisions(batchId: string): Promise<IncidentBatchDecision[]>;
  addDecision(batchId: string, decision: IncidentBatchDecision): Promise<void>;
  closeBatch(batchId: string, status: BatchStatus, reason: string | null, at: string): Promise<void>;
  setBatchMessage(batchId: string, channel: string, ts: string): Promise<void>;
}
