import { parse as parseCsv } from 'csv-parse/sync';
import { AccountSchema } from '../records/accounts';
import type { Account } from '../records/accounts';
import { findPlan } from '../records/catalog';
import type { Catalog } from '../records/catalog';
import { problemsFromZod, describeProblems } from '../records/problems';
import type { Actor } from '../records/actors';
import type { Clock, IdGenerator, TransactionRunner } from '../records/ports';
import type { ReasonTaxonomy } from '../records/reasons';
import { createRecordsIn, evaluateRequest } from './create-record';
import type { CreateRecordInput } from './create-record';
import { AppError } from '../records/errors';

export interface RowError {
  /** 1-based line number in the file (the CSV header is line 1). */
  readonly line: number;
  readonly message: string;
}

export type ParsedAccounts = { ok: true; accounts: Account[]; /** The file line of each account. */ lines: number[] } | { ok: false; errors: RowError[] };

/** Columns whose CSV text becomes a number or a list before schema validation. */
const NUMERIC = new Set(['mrr_minor', 'notice_period_days', 'early_termination_fee_minor']);
const NULLABLE = new Set(['billing_customer_id', 'support_tier', 'merged_into', 'billing_started_at', 'locale']);

function fromCsvRecord(rec: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) {
    const s = v.trim();
    if (s === '') {
      if (NULLABLE.has(k)) out[k] = null;
      continue;
    }
    if (NUMERIC.has(k)) out[k] = /^-?\d+$/.test(s) ? Number(s) : s;
    else if (k === 'contacts' || k === 'tags')
      out[k] = s
        .split(/[;|]/)
        .map((c) => c.trim())
        .filter(Boolean);
    else out[k] = s;
  }
  return out;
}

/**
 * Parses an accounts file (CSV with a header row, or JSON Lines) and validates every row against
 * the schema and the catalog. All errors are collected, each with its line number; the caller
 * imports nothing unless every row is valid.
 */
export function parseAccountsFile(content: string, format: 'csv' | 'jsonl', catalog: Catalog): ParsedAccounts {
  const errors: RowError[] = [];
  const accounts: Account[] = [];
  const lines: number[] = [];
  const rows: { line: number; value: unknown }[] = [];
  if (format === 'csv') {
    let records: { record: Record<string, string>; info: { lines: number } }[];
    try {
      records = parseCsv(content, { columns: true, skip_empty_lines: true, bom: true, info: true, trim: false }) as typeof records;
    } catch (err) {
      const line = (err as { lines?: number }).lines;
      return { ok: false, errors: [{ line: line ?? 1, message: `not valid CSV: ${(err as Error).message}` }] };
    }
    for (const r of records) rows.push({ line: r.info.lines, value: fromCsvRecord(r.record) });
  } else {
    content.split(/\r?\n/).forEach((text, i) => {
      if (!text.trim()) return;
      try {
        rows.push({ line: i + 1, value: JSON.parse(text) });
      } catch {
        errors.push({ line: i + 1, message: 'not valid JSON' });
      }
    });
  }
  const seen = new Map<string, number>();
  for (const { line, value } of rows) {
    const parsed = AccountSchema.safeParse(value);
    if (!parsed.success) {
      errors.push({ line, message: describeProblems(problemsFromZod(parsed.error)) });
      continue;
    }
    const a = parsed.data;
    const plan = findPlan(catalog, a.plan_id);
    if (!plan) errors.push({ line, message: `plan_id: "${a.plan_id}" is not in the plan catalog` });
    else if (plan.prices[a.currency] === undefined) errors.push({ line, message: `currency: plan "${a.plan_id}" has no ${a.currency} price` });
    const dup = seen.get(a.id);
    if (dup !== undefined) errors.push({ line, message: `id: "${a.id}" already appears on line ${dup}` });
    seen.set(a.id, line);
    accounts.push(a);
    lines.push(line);
  }
  if (rows.length === 0 && errors.length === 0) errors.push({ line: 1, message: 'the file has no account rows' });
  errors.sort((x, y) => x.line - y.line);
  return errors.length ? { ok: false, errors } : { ok: true, accounts, lines };
}

export function formatFromName(file: string): 'csv' | 'jsonl' {
  if (/\.csv$/i.test(file)) return 'csv';
  if (/\.(jsonl|ndjson)$/i.test(file)) return 'jsonl';
  throw new AppError('validation_failed', `cannot tell the format of "${file}": name it .csv or .jsonl`);
}

/** What an import that changes accounts needs: the catalog and ids to file the change records. */
export interface ImportDeps {
  readonly store: TransactionRunner;
  readonly clock: Clock;
  readonly ids?: IdGenerator;
  readonly catalog?: Catalog;
  readonly reasons?: ReasonTaxonomy;
}

export interface ImportResult {
  readonly imported: number;
  /** Records filed for rows that change an existing account's plan or status (they go through policy and approval). */
  readonly records: {
    readonly line: number;
    readonly account_id: string;
    readonly record_id: string;
    readonly kind: string;
    readonly subtype: string;
    readonly state: string;
  }[];
}

/**
 * The record a row's change of plan or status needs, or why the row cannot make one. An import
 * never changes plan or status itself: the record does, when it is applied, after the policy and
 * any approval — as a ticket would.
 */
function changeRequest(
  existing: Account,
  row: Account,
  catalog: Catalog,
  by: string,
  line: number,
): { request: Record<string, unknown> } | { refused: string } | null {
  const planChanged = row.plan_id !== existing.plan_id;
  const statusChanged = row.status !== existing.status;
  if (!planChanged && !statusChanged) return null;
  if (planChanged && statusChanged)
    return { refused: `changes both plan (${existing.plan_id} → ${row.plan_id}) and status (${existing.status} → ${row.status}); import one change at a time` };
  const base = { account_id: existing.id, requested_by: by, reason_code: 'other', reason_text: `accounts import, line ${line}`, effective: 'immediate' };
  if (planChanged) {
    const from = findPlan(catalog, existing.plan_id);
    const to = findPlan(catalog, row.plan_id);
    if (!from || !to) return { refused: `plan ${existing.plan_id} → ${row.plan_id}: ${!from ? existing.plan_id : row.plan_id} is not in the plan catalog` };
    if (from.tier_rank === to.tier_rank)
      return { refused: `plan ${existing.plan_id} → ${row.plan_id}: both plans have the same tier, so the change is neither an upgrade nor a downgrade` };
    const kind = to.tier_rank > from.tier_rank ? 'upgrade' : 'downgrade';
    // A downgrade takes effect at the end of the term, as the catalog's change policy says for tickets.
    return {
      request: { ...base, kind, subtype: 'subscription', details: { to_plan: row.plan_id }, ...(kind === 'downgrade' ? { effective: 'end_of_term' } : {}) },
    };
  }
  const to = row.status;
  const subtype =
    to === 'deactivated'
      ? 'deactivation'
      : to === 'closed'
        ? 'closure'
        : to === 'merged'
          ? 'merge'
          : to === 'active'
            ? existing.status === 'pending'
              ? 'activation'
              : 'reactivation'
            : null;
  if (to === 'suspended') return { refused: `status ${existing.status} → suspended: a suspension needs a cause and a review date; file it as a ticket` };
  if (!subtype) return { refused: `status ${existing.status} → ${to}: no lifecycle change leads there` };
  if (subtype === 'merge' && !row.merged_into) return { refused: `status ${existing.status} → merged: give merged_into, the account it is merged into` };
  return {
    request: {
      ...base,
      kind: 'status_change',
      subtype,
      details: {
        status_before: existing.status,
        status_after: to,
        ...(subtype === 'merge' ? { merge: { source_account_id: existing.id, target_account_id: row.merged_into } } : {}),
      },
    },
  };
}

/**
 * Writes validated accounts and one `account.imported` audit event each (actor: `by`), all in one
 * transaction. A row that changes an existing account's plan or status files the matching record
 * (upgrade, downgrade or status change, requested by `by`) in the same transaction, and the row's
 * other columns are imported with the account's current plan and status: the record changes them
 * once the policy (and an approver, if it asks for one) lets it through. A row whose change cannot
 * be a valid record is refused by line and account, and then nothing is imported.
 */
export async function importAccounts(deps: ImportDeps, accounts: readonly Account[], opts: { by: string; lines?: readonly number[] }): Promise<ImportResult> {
  const by = opts.by.trim();
  if (!by) throw new AppError('validation_failed', '--by: name who imports (recorded in the audit trail as the actor)');
  const actor: Actor = { role: 'supervisor', id: by.slice(0, 200) };
  const now = deps.clock.now();
  const at = now.toISOString();
  return deps.store.transaction(async (uow) => {
    const lineOf = (i: number) => opts.lines?.[i] ?? i + 1;
    const changes: { line: number; input: CreateRecordInput }[] = [];
    const refused: RowError[] = [];
    const rows: Account[] = [];
    for (const [i, a] of accounts.entries()) {
      const existing = await uow.accounts.get(a.id);
      if (!existing) {
        rows.push(a);
        continue;
      }
      if (existing.plan_id === a.plan_id && existing.status === a.status) {
        rows.push(a);
        continue;
      }
      if (!deps.catalog || !deps.ids)
        throw new AppError('validation_failed', `line ${lineOf(i)}: ${a.id} changes plan or status, which needs the plan catalog to file a record`);
      const change = changeRequest(existing, a, deps.catalog, by, lineOf(i));
      rows.push({ ...a, plan_id: existing.plan_id, status: existing.status, merged_into: existing.merged_into });
      if (!change) continue;
      if ('refused' in change) {
        refused.push({ line: lineOf(i), message: `${a.id}: ${change.refused}` });
        continue;
      }
      const ev = await evaluateRequest(uow, { catalog: deps.catalog, ...(deps.reasons ? { reasons: deps.reasons } : {}) }, change.request, now);
      if (ev.problems.length)
        refused.push({
          line: lineOf(i),
          message: `${a.id}: the ${String(change.request.kind).replace('_', ' ')} record this change needs is not valid: ${describeProblems(ev.problems)}`,
        });
      else changes.push({ line: lineOf(i), input: { request: change.request, actor: { role: 'agent', id: by.slice(0, 200) }, onProblems: 'reject' } });
    }
    if (refused.length) {
      throw new AppError(
        'validation_failed',
        `${refused.length} row(s) change an account in a way no record can; nothing was imported:\n${refused.map((r) => `  line ${r.line}: ${r.message}`).join('\n')}`,
        {
          problems: refused.map((r) => ({ field: `line ${r.line}`, message: r.message })),
        },
      );
    }
    await uow.accounts.upsertMany(rows);
    await uow.audit.append(rows.map((a) => ({ account_id: a.id, record_id: null, type: 'account.imported', actor, occurred_at: at, data: { ...a } })));
    const created = changes.length
      ? await createRecordsIn(
          uow,
          { store: deps.store, clock: deps.clock, ids: deps.ids!, catalog: deps.catalog!, ...(deps.reasons ? { reasons: deps.reasons } : {}) },
          changes.map((c) => c.input),
          now,
        )
      : [];
    return {
      imported: rows.length,
      records: created.map(({ record }, i) => ({
        line: changes[i]!.line,
        account_id: record.account_id,
        record_id: record.id,
        kind: record.kind,
        subtype: record.subtype,
        state: record.state,
      })),
    };
  });
}
