import type { Knex } from 'knex';
import { ChainVerifier } from '../records/audit';
import type { AuditEvent, ChainBreak } from '../records/audit';
import type { ChainHead, ChainState } from '../records/checkpoint';
import { auditFromRow } from './mappers';
import type { AuditRow } from './mappers';

const BATCH = 2_000;

export interface AuditFilter {
  readonly accountId?: string;
  /** Only events that occurred at or after this instant. */
  readonly since?: Date;
}

/** Streams audit events in (account_id, seq) order with keyset pagination, so memory stays flat. */
export async function* auditEvents(db: Knex, filter: AuditFilter = {}): AsyncGenerator<AuditEvent> {
  let after: { account: string; seq: number } | null = null;
  for (;;) {
    const q = db<AuditRow>('audit_events').orderBy([{ column: 'account_id' }, { column: 'seq' }]).limit(BATCH);
    if (filter.accountId !== undefined) q.where('account_id', filter.accountId);
    if (filter.since) q.where('occurred_at', '>=', filter.since);
    if (after) q.whereRaw('(account_id, seq) > (?, ?)', [after.account, after.seq]);
    const rows = await q;
    for (const r of rows) yield auditFromRow(r);
    if (rows.length < BATCH) return;
    const last = rows[rows.length - 1]!;
    after = { account: last.account_id, seq: last.seq };
  }
}

export interface VerifyResult {
  readonly accounts: number;
  readonly events: number;
  readonly broken: ChainBreak | null;
}

/**
 * Walks every chain (or one account's) and compares it with the recorded heads. Stops at the
 * first break. A head with no events at all means an account's whole chain was deleted.
 */
export async function verifyAudit(db: Knex, accountId?: string): Promise<VerifyResult> {
  const headsQ = db('audit_heads').select('account_id', 'seq', 'hash');
  if (accountId !== undefined) headsQ.where({ account_id: accountId });
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
  for await (const e of auditEvents(db, accountId === undefined ? {} : { accountId })) {
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

export const AUDIT_CSV_COLUMNS = ['id', 'account_id', 'seq', 'record_id', 'type', 'actor_role', 'actor_id', 'occurred_at', 'data', 'prev_hash', 'hash'] as const;

const csvCell = (v: unknown): string => {
  const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  // Quote always-dangerous cells; prefix formula starters so spreadsheets do not execute them.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) || safe !== s ? `"${safe.replace(/"/g, '""')}"` : safe;
};

export function auditEventToCsv(e: AuditEvent): string {
  return [e.id, e.account_id, e.seq, e.record_id, e.type, e.actor.role, e.actor.id, e.occurred_at, e.data, e.prev_hash, e.hash]
    .map(csvCell)
    .join(',');
}

/** Writes events as JSON Lines or CSV (with a header) to `write`; returns the count. */
export async function exportAudit(
  db: Knex,
  format: 'jsonl' | 'csv',
  filter: AuditFilter,
  write: (chunk: string) => Promise<void> | void,
): Promise<number> {
  let n = 0;
  if (format === 'csv') await write(AUDIT_CSV_COLUMNS.join(',') + '\n');
  let buf = '';
  for await (const e of auditEvents(db, filter)) {
    buf += (format === 'csv' ? auditEventToCsv(e) : JSON.stringify(e)) + '\n';
    n += 1;
    if (buf.length > 64 * 1024) {
      await write(buf);
      buf = '';
    }
  }
  if (buf) await write(buf);
  return n;
}

/** Every chain's head as the database records it (chains with at least one event). */
export async function readChainHeads(db: Knex): Promise<ChainHead[]> {
  const rows: { account_id: string; seq: number; hash: string }[] = await db('audit_heads').where('seq', '>', 0).whereNotNull('hash').orderBy('account_id').select('account_id', 'seq', 'hash');
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
