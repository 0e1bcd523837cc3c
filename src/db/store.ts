import type { Knex } from 'knex';
import type { TransactionRunner, UnitOfWork } from '../records/ports';
import { KnexAccountRepository } from './accounts.repository';
import { KnexAuditAppender } from './audit.repository';
import { KnexDeliveryRepository } from './deliveries.repository';
import { KnexTicketSyncRepository } from './ticket-sync.repository';
import { KnexTicketRequestRepository } from './ticket-requests.repository';
import { KnexBillingAdjustmentRepository } from './billing-adjustments.repository';
import { KnexLedgerRepository } from './ledger.repository';
import { KnexBillingBookRepository } from './billing-book.repository';
import { KnexBillingPreviewRepository } from './billing-previews.repository';
import { KnexEmailDeliveryRepository } from './email-deliveries.repository';
import { KnexApprovalRepository } from './approvals.repository';
import { KnexOutboxWriter } from './outbox.repository';
import { KnexRecordRepository } from './records.repository';
import { loadRiskFacts } from './risk.queries';
import { KnexIncidentRepository } from './incidents.repository';

export function unitOfWork(trx: Knex.Transaction): UnitOfWork {
  return {
    records: new KnexRecordRepository(trx),
    accounts: new KnexAccountRepository(trx),
    audit: new KnexAuditAppender(trx),
    outbox: new KnexOutboxWriter(trx),
    deliveries: new KnexDeliveryRepository(trx),
    ticketRequests: new KnexTicketRequestRepository(trx),
    ticketSync: new KnexTicketSyncRepository(trx),
    billing: new KnexBillingAdjustmentRepository(trx),
    ledger: new KnexLedgerRepository(trx),
    billingBook: new KnexBillingBookRepository(trx),
    billingPreviews: new KnexBillingPreviewRepository(trx),
    emails: new KnexEmailDeliveryRepository(trx),
    approvals: new KnexApprovalRepository(trx),
    // On the transaction's own connection: the caller may hold row locks, and a second pool
    // connection per job could exhaust the pool under load.
    risk: { facts: (record, now, thresholds) => loadRiskFacts(trx, record, now, thresholds) },
    incidents: new KnexIncidentRepository(trx),
  };
}

export class KnexTransactionRunner implements TransactionRunner {
  constructor(private readonly db: Knex) {}

  transaction<T>(work: (uow: UnitOfWork) => Promise<T>): Promise<T> {
    return this.db.transaction((trx) => work(unitOfWork(trx)));
  }
}
