import type { Knex } from 'knex';
import { ChainVerifier } from '../records/audit';
import type { AuditEvent, ChainBreak } from '../records/audit';
import type { ChainHead, ChainState } from '../records/checkpoint';
import { auditFromRow } from './mappers';
import type { AuditRow } from './mappers';
import { stringify } from 'csv-stringify/sync';
import type { Options } from 'csv-stringify/sync';

const BATCH = 2_000;

export interface AuditFilter {
  readonly accountId?: string;
  /** Only these accounts: [from, to) in the database's order of account ids. */
  readonly range?: { readonly from?: string; readonly to?: string };
  /** Only events that occurred at or after this instant. */
  readonly since?: Date;
}

/**
 * Streams audit events in (account_id, seq) order with keyset pagination, so memory stays flat.
 * The next page is already being read while the caller works through the current one (hashing
 * in `audit verify`), so the database and the hashing run side by side.
 */
export async function* auditEvents(db: Knex, filter: AuditFilter = {}): AsyncGenerator<AuditEvent> {
  const page = (after: { account: string; seq: number } | null): Promise<AuditRow[]> => {
    // occurred_at comes back as the ISO text the hash covers: parsing a Date per row and formatting
    // it again was a sixth of what verifying a million events cost.
    const q = db('audit_events')
      .select(
        'id',
        'account_id',
        'seq',
        'record_id',
        'type',
        'actor',
        db.raw(`to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS occurred_at`),
        'data',
        'prev_hash',
        'hash',
        'redacted_at',
      )
      .orderBy([{ column: 'account_id' }, { column: 'seq' }])
      .limit(BATCH);
    if (filter.accountId !== undefined) q.where('account_id', filter.accountId);
    if (filter.since) q.where('occurred_at', '>=', filter.since);
    if (filter.range?.from !== undefined) q.where('account_id', '>=', filter.range.from);
    if (filter.range?.to !== undefined) q.where('account_id', '<', filter.range.to);
    if (after) q.whereRaw('(account_id, seq) > (?, ?)', [after.account, after.seq]);
    return q as unknown as Promise<AuditRow[]>;
  };
  let next: Promise<AuditRow[]> | null = page(null);
  while (next) {
    const rows: AuditRow[] = await next;
    const last = rows[rows.length - 1];
    next = rows.length === BATCH && last ? page({ account: last.account_id, seq: last.seq }) : null;
    // A page abandoned by the caller (verify stops at the first break) must not reject unobserved.
    next?.catch(() => undefined);
    for (const r of rows) yield auditFromRow(r);
  }
}

export interface VerifyResult {
  readonly accounts: number;
  readonly events: number;
  readonly broken: ChainBreak | null;
}

/** A slice of the chains, by account id in the database's own order: [from, to), either end open. */
interface AccountRange {
  readonly from?: string;
  readonly to?: string;
}

/**
 * Walks every chain (or one account's) and compares it with the recorded heads. Stops at the
 * first break. A head with no events at all means an account's whole chain was deleted.
 * Chains are independent, so the accounts are split into `streams` ranges walked side by side
 * (default 2: one reads while another hashes); the break reported is the one in the lowest range,
 * as a walk in account order would have found first.
 */
export async function verifyAudit(db: Knex, accountId?: string, opts: { streams?: number } = {}): Promise<VerifyResult> {
  if (accountId !== undefined) return verifyRange(db, { accountId });
  const streams = Math.max(1, opts.streams ?? 2);
  const ranges: AccountRange[] = [{}];
  if (streams > 1) {
    // Boundaries taken from the heads in the database's collation, the order the ranges compare in.
    const { rows } = await db.raw<{ rows: { account_id: string }[] }>(
      `SELECT account_id FROM (
         SELECT account_id, row_number() OVER (ORDER BY account_id) - 1 AS i, count(*) OVER () AS total FROM audit_heads
       ) s WHERE i > 0 AND i % ceil(total::numeric / ?)::int = 0 ORDER BY account_id`,
      [streams],
    );
    ranges.length = 0;
    let from: string | undefined;
    for (const r of rows) {
      ranges.push({ ...(from !== undefined ? { from } : {}), to: r.account_id });
      from = r.account_id;
    }
    ranges.push(from !== undefined ? { from } : {});
  }
  const results = await Promise.all(ranges.map((range) => verifyRange(db, { range })));
  const broken = results.find((r) => r.broken)?.broken ?? null;
  return { accounts: results.reduce((n, r) => n + r.accounts, 0), events: results.reduce((n, r) => n + r.events, 0), broken };
}

async function verifyRange(db: Knex, scope: { accountId?: string; range?: AccountRange }): Promise<VerifyResult> {
  const headsQ = db('audit_heads').select('account_id', 'seq', 'hash');
  if (scope.accountId !== undefined) headsQ.where({ account_id: scope.accountId });
  if (scope.range?.from !== undefined) headsQ.where('account_id', '>=', scope.range.from);
  if (scope.range?.to !== undefined) headsQ.where('account_id', '<', scope.range.to);
  const heads = new Map<string, { seq: number; hash: string | null }>(
    (await headsQ).map((h: { account_id: string; seq: number; hash: string | null }) => [h.account_id, { seq: h.seq, hash: h.hash }]),
  );
  let accounts = 0;
  let events = 0;
  let verifier: ChainVerifier | null = null;
  const finish = (v: ChainVerifier): ChainBreak | null => {
    const b = v.finish(heads.get(v.accountId) ?? null);
    heads.delete(v.accountId);
    return b;
  };
  const filter: AuditFilter = scope.accountId !== undefined ? { accountId: scope.accountId } : scope.range ? { range: scope.range } : {};
  for await (const e of auditEvents(db, filter)) {
    if (!verifier || verifier.accountId !== e.account_id) {
      if (verifier) {
        const b = finish(verifier);
        if (b) return { accounts, events, broken: b };
      }
      verifier = new ChainVerifier(e.account_id);
      accounts += 1;
    }
    const b = verifier.push(e);
    if (b) return { accounts, events, broken: b };
    events += 1;
  }
  if (verifier) {
    const b = finish(verifier);
    if (b) return { accounts, events, broken: b };
  }
  for (const [account, head] of heads) {
    if (head.seq > 0) {
      return {
        accounts,
        events,
        broken: { event_id: '(none)', account_id: account, seq: head.seq, problem: `all ${head.seq} event(s) of the account are missing (deleted)` },
      };
    }
  }
  return { accounts, events, broken: null };
}

export const AUDIT_CSV_COLUMNS = [
  'id',
  'account_id',
  'seq',
  'record_id',
  'type',
  'actor_role',
  'actor_id',
  'occurred_at',
  'data',
  'prev_hash',
  'hash',
] as const;

/**
 * A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a `'` in
 * front and is quoted, so opening an export never executes what an event's data holds.
 */
const spreadsheetSafe = (s: string): string | { value: string; quoted: true } => (/^[=+\-@\t\r]/.test(s) ? { value: `'${s}`, quoted: true } : s);

/** RFC 4180 through csv-stringify; objects (an event's data) as JSON in one cell. */
const AUDIT_CSV_OPTIONS: Options = { cast: { string: spreadsheetSafe, object: (v) => spreadsheetSafe(JSON.stringify(v)) } };

const auditRow = (e: AuditEvent): unknown[] => [
  e.id,
  e.account_id,
  e.seq,
  e.record_id,
  e.type,
  e.actor.role,
  e.actor.id,
  e.occurred_at,
  e.data,
  e.prev_hash,
  e.hash,
];

/** One event as a CSV line (no line end), in the order of {@link AUDIT_CSV_COLUMNS}. */
export function auditEventToCsv(e: AuditEvent): string {
  return stringify([auditRow(e)], { ...AUDIT_CSV_OPTIONS, eof: false });
}

/** Writes events as JSON Lines or CSV (with a header) to `write`; returns the count. */
export async function exportAudit(db: Knex, format: 'jsonl' | 'csv', filter: AuditFilter, write: (chunk: string) => Promise<void> | void): Promise<number> {
  let n = 0;
  if (format === 'csv') await write(stringify([[...AUDIT_CSV_COLUMNS]]));
  let lines: string[] = [];
  let rows: unknown[][] = [];
  let size = 0;
  const flush = async () => {
    if (format === 'csv' && rows.length) await write(stringify(rows, AUDIT_CSV_OPTIONS));
    if (format === 'jsonl' && lines.length) await write(lines.join(''));
    lines = [];
    rows = [];
    size = 0;
  };
  for await (const e of auditEvents(db, filter)) {
    if (format === 'csv') {
      rows.push(auditRow(e));
      size += 256;
    } else {
      const line = JSON.stringify(e) + '\n';
      lines.push(line);
      size += line.length;
    }
    n += 1;
    if (size > 64 * 1024) await flush();
  }
  await flush();
  return n;
}

/** Every chain's head as the database records it (chains with at least one event). */
export async function readChainHeads(db: Knex): Promise<ChainHead[]> {
  const rows: { account_id: string; seq: number; hash: string }[] = await db('audit_heads')
    .where('seq', '>', 0)
    .whereNotNull('hash')
    .orderBy('account_id')
    .select('account_id', 'seq', 'hash');
  return rows.map((r) => ({ account_id: r.account_id, seq: r.seq, hash: r.hash }));
}

/** For each checkpointed head: the chain's newest seq now, and the hash of the event at the checkpoint's seq. */
export async function chainStatesAt(db: Knex, heads: readonly ChainHead[]): Promise<Map<string, ChainState>> {
  const out = new Map<string, ChainState>();
  for (let i = 0; i < heads.length; i += BATCH) {
    const batch = heads.slice(i, i + BATCH);
    const { rows } = await db.raw<{ rows: { account_id: string; newest: number | null; hash: string | null }[] }>(
      `SELECT c.account_id,
              (SELECT max(x.seq) FROM audit_events x WHERE x.account_id = c.account_id) AS newest,
              e.hash
         FROM unnest(?::text[], ?::int[]) AS c(account_id, seq)
         LEFT JOIN audit_events e ON e.account_id = c.account_id AND e.seq = c.seq`,
      [batch.map((h) => h.account_id), batch.map((h) => h.seq)],
    );
    for (const r of rows) out.set(r.account_id, { account_id: r.account_id, newest_seq: r.newest ?? 0, hash_at_checkpoint: r.hash });
  }
  return out;
}
