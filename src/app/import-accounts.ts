import { parse as parseCsv } from 'csv-parse/sync';
import { AccountSchema } from '../records/accounts';
import type { Account } from '../records/accounts';
import { findPlan } from '../records/catalog';
import type { Catalog } from '../records/catalog';
import { problemsFromZod, describeProblems } from '../records/problems';
import type { Actor } from '../records/actors';
import type { Clock, TransactionRunner } from '../records/ports';
import { AppError } from '../records/errors';

export interface RowError {
  /** 1-based line number in the file (the CSV header is line 1). */
  readonly line: number;
  readonly message: string;
}

export type ParsedAccounts = { ok: true; accounts: Account[] } | { ok: false; errors: RowError[] };

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
    else if (k === 'contacts') out[k] = s.split(/[;|]/).map((c) => c.trim()).filter(Boolean);
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
  }
  if (rows.length === 0 && errors.length === 0) errors.push({ line: 1, message: 'the file has no account rows' });
  errors.sort((x, y) => x.line - y.line);
  return errors.length ? { ok: false, errors } : { ok: true, accounts };
}

export function formatFromName(file: string): 'csv' | 'jsonl' {
  if (/\.csv$/i.test(file)) return 'csv';
  if (/\.(jsonl|ndjson)$/i.test(file)) return 'jsonl';
  throw new AppError('validation_failed', `cannot tell the format of "${file}": name it .csv or .jsonl`);
}

export const importActor: Actor = { role: 'system', id: 'accounts-import' };

/** Writes validated accounts and one `account.imported` audit event each, all in one transaction. */
export async function importAccounts(
  deps: { store: TransactionRunner; clock: Clock },
  accounts: readonly Account[],
): Promise<number> {
  const at = deps.clock.now().toISOString();
  await deps.store.transaction(async (uow) => {
    await uow.accounts.upsertMany(accounts);
    await uow.audit.append(
      accounts.map((a) => ({
        account_id: a.id,
        record_id: null,
        type: 'account.imported',
        actor: importActor,
        occurred_at: at,
        data: { ...a },
      })),
    );
  });
  return accounts.length;
}
