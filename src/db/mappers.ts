import type { Account } from '../records/accounts';
import type { AuditEvent } from '../records/audit';
import type { Actor } from '../records/actors';
import type { Effective, Kind, LifecycleRecord, Requester, State } from '../records/kinds';

/** Row ⇄ domain mapping. PostgreSQL returns bigint as string and timestamptz as Date. */

const iso = (v: Date | string | null): string | null => (v === null ? null : v instanceof Date ? v.toISOString() : new Date(v).toISOString());
const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** An instant as ISO text; text already in that exact form (from SQL's to_char) passes through unparsed. */
const isoReq = (v: Date | string): string => (typeof v === 'string' && ISO_UTC_MS.test(v) ? v : (iso(v) as string));
const num = (v: string | number | null): number | null => (v === null ? null : Number(v));

export interface RecordRow {
  id: string;
  kind: string;
  subtype: string;
  account_id: string;
  ticket_id: string | null;
  requested_by: string;
  requester: Requester | null;
  reason_code: string;
  reason_text: string;
  effective: string | null;
  effective_at: Date | null;
  state: string;
  version: number;
  details: Record<string, unknown>;
  amount_minor: string | null;
  currency: string | null;
  risk_flags: string[];
  problems: { field: string; message: string }[];
  created_at: Date;
  updated_at: Date;
  reverses_record_id?: string | null;
}

export function recordFromRow(r: RecordRow): LifecycleRecord {
  const amount = num(r.amount_minor);
  return {
    id: r.id,
    kind: r.kind as Kind,
    subtype: r.subtype,
    account_id: r.account_id,
    ticket_id: r.ticket_id,
    requested_by: r.requested_by,
    requester: r.requester,
    reason_code: r.reason_code,
    reason_text: r.reason_text,
    effective: r.effective as Effective | null,
    effective_at: iso(r.effective_at),
    state: r.state as State,
    version: r.version,
    details: r.details,
    amount: amount === null || r.currency === null ? null : { amount_minor: amount, currency: r.currency },
    risk_flags: r.risk_flags,
    problems: r.problems,
    created_at: isoReq(r.created_at),
    updated_at: isoReq(r.updated_at),
    ...(r.reverses_record_id ? { reverses_record_id: r.reverses_record_id } : {}),
  };
}

export function recordToRow(r: LifecycleRecord): Record<string, unknown> {
  return {
    id: r.id,
    kind: r.kind,
    subtype: r.subtype,
    account_id: r.account_id,
    ticket_id: r.ticket_id,
    requested_by: r.requested_by,
    requester: r.requester === null ? null : JSON.stringify(r.requester),
    reason_code: r.reason_code,
    reason_text: r.reason_text,
    effective: r.effective,
    effective_at: r.effective_at,
    state: r.state,
    version: r.version,
    details: JSON.stringify(r.details),
    amount_minor: r.amount?.amount_minor ?? null,
    currency: r.amount?.currency ?? null,
    risk_flags: JSON.stringify(r.risk_flags),
    problems: JSON.stringify(r.problems),
    created_at: r.created_at,
    updated_at: r.updated_at,
    ...(r.reverses_record_id ? { reverses_record_id: r.reverses_record_id } : {}),
  };
}

export interface AccountRow {
  id: string;
  name: string;
  plan_id: string;
  status: string;
  currency: string;
  mrr_minor: string;
  billing_customer_id: string | null;
  support_tier: string | null;
  contacts: string[];
  term_start: Date;
  term_end: Date;
  billing_started_at: Date | null;
  notice_period_days: number;
  early_termination_fee_minor: string;
  merged_into: string | null;
  version: number;
}

export function accountFromRow(r: AccountRow): Account {
  return {
    id: r.id,
    name: r.name,
    plan_id: r.plan_id,
    status: r.status as Account['status'],
    currency: r.currency,
    mrr_minor: Number(r.mrr_minor),
    billing_customer_id: r.billing_customer_id,
    support_tier: r.support_tier,
    contacts: r.contacts,
    term_start: isoReq(r.term_start),
    term_end: isoReq(r.term_end),
    billing_started_at: r.billing_started_at ? isoReq(r.billing_started_at) : null,
    notice_period_days: r.notice_period_days,
    early_termination_fee_minor: Number(r.early_termination_fee_minor),
    merged_into: r.merged_into,
    version: r.version,
  };
}

export function accountToRow(a: Account): Record<string, unknown> {
  return {
    id: a.id,
    name: a.name,
    plan_id: a.plan_id,
    status: a.status,
    currency: a.currency,
    mrr_minor: a.mrr_minor,
    billing_customer_id: a.billing_customer_id,
    support_tier: a.support_tier,
    contacts: JSON.stringify(a.contacts),
    term_start: a.term_start,
    term_end: a.term_end,
    billing_started_at: a.billing_started_at ?? null,
    notice_period_days: a.notice_period_days,
    early_termination_fee_minor: a.early_termination_fee_minor,
    merged_into: a.merged_into,
  };
}

export interface AuditRow {
  id: string;
  account_id: string;
  seq: number;
  record_id: string | null;
  type: string;
  actor: Actor;
  occurred_at: Date;
  data: Record<string, unknown>;
  prev_hash: string | null;
  hash: string;
  /** Set when personal data of an event older than the side table was blanked (see audit_redact_legacy). */
  redacted_at?: Date | null;
}

export function auditFromRow(r: AuditRow): AuditEvent {
  return {
    id: String(r.id),
    account_id: r.account_id,
    seq: r.seq,
    record_id: r.record_id,
    type: r.type,
    actor: r.actor,
    occurred_at: isoReq(r.occurred_at),
    data: r.data,
    prev_hash: r.prev_hash,
    hash: r.hash,
    ...(r.redacted_at ? { redacted_at: r.redacted_at.toISOString() } : {}),
  };
}
