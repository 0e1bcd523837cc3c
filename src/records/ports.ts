import type { Account } from './accounts';
import type { AuditEvent, AuditEventDraft } from './audit';
import type { LifecycleRecord } from './kinds';

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
}

export interface AccountRepository {
  get(id: string): Promise<Account | null>;
  /** Replaces the account's mutable fields; optimistic on `version` when given. */
  update(account: Account): Promise<void>;
  /** Inserts or replaces accounts (the import path). */
  upsertMany(accounts: readonly Account[]): Promise<void>;
}

export interface AuditAppender {
  /** Chains and appends events; appends for one account are serialised, other accounts do not wait. */
  append(drafts: readonly AuditEventDraft[]): Promise<AuditEvent[]>;
}

export interface OutboxWriter {
  add(messages: readonly OutboxMessage[]): Promise<void>;
}

/** Everything written inside one database transaction. */
export interface UnitOfWork {
  readonly records: RecordRepository;
  readonly accounts: AccountRepository;
  readonly audit: AuditAppender;
  readonly outbox: OutboxWriter;
}

export interface TransactionRunner {
  /** Runs `work` in one transaction: all of its writes commit together or none do. */
  transaction<T>(work: (uow: UnitOfWork) => Promise<T>): Promise<T>;
}
