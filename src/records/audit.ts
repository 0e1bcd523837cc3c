import { createHash, hash as oneShotHash } from 'node:crypto';
import type { Actor } from './actors';

/** An audit event before it is chained: what happened, to which record, by whom, when. */
export interface AuditEventDraft {
  readonly account_id: string;
  readonly record_id: string | null;
  /** Dotted name, e.g. `record.created`, `record.approve`, `approval.refused`. */
  readonly type: string;
  readonly actor: Actor;
  /** ISO 8601 instant, millisecond precision. */
  readonly occurred_at: string;
  readonly data: Record<string, unknown>;
}

/** A chained, stored audit event. `seq` counts from 1 per account; `prev_hash` is null for seq 1. */
export interface AuditEvent extends AuditEventDraft {
  readonly id: string;
  readonly seq: number;
  readonly prev_hash: string | null;
  readonly hash: string;
  /**
   * When an event written before personal data left the chain had that data blanked by an erasure
   * (not hashed): its content can no longer be recomputed, so it is checked by its links alone.
   */
  readonly redacted_at?: string;
}

/**
 * Canonical JSON: object keys sorted by code point at every level, no whitespace, `undefined`
 * members dropped (as JSON.stringify does). Two equal values always serialise to the same bytes,
 * whatever order their keys were built in, so the hash survives a round-trip through jsonb.
 */
export function canonicalJson(value: unknown): string {
  // Written as plain loops: `audit verify` runs this once per event over millions of events.
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('non-finite number in audit data');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          const v: unknown = value[i];
          out += v === undefined ? 'null' : canonicalJson(v);
        }
        return out + ']';
      }
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      const o = value as Record<string, unknown>;
      const keys = Object.keys(o).sort();
      let out = '{';
      let first = true;
      for (const k of keys) {
        const v = o[k];
        if (v === undefined) continue;
        out += (first ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(v);
        first = false;
      }
      return out + '}';
    }
    default:
      // undefined, functions and symbols serialise as null (JSON.stringify drops or nulls them); bigint throws.
      return JSON.stringify(value) ?? 'null';
  }
}

/** The fields an event's hash covers. Everything that gives the event its meaning, and its place in the chain. */
export function hashedContent(e: Omit<AuditEvent, 'id' | 'hash'>): Record<string, unknown> {
  return {
    account_id: e.account_id,
    seq: e.seq,
    record_id: e.record_id,
    type: e.type,
    actor: e.actor,
    occurred_at: e.occurred_at,
    data: e.data,
    prev_hash: e.prev_hash,
  };
}

/** SHA-256 of UTF-8 text, hex: Node's one-shot `crypto.hash` where it exists (about twice as fast per call). */
const sha256Hex: (text: string) => string =
  typeof oneShotHash === 'function' ? (text) => oneShotHash('sha256', text, 'hex') : (text) => createHash('sha256').update(text, 'utf8').digest('hex');

export function computeEventHash(e: Omit<AuditEvent, 'id' | 'hash'>): string {
  const p = hashedContentPieces(e);
  return sha256Hex(p.head + (e.prev_hash === null ? 'null' : JSON.stringify(e.prev_hash)) + p.mid + JSON.stringify(e.seq) + p.tail);
}

/**
 * The canonical JSON of a draft's hashed content, in three pieces around the two values only the
 * appender knows once it holds the account's head: `head + JSON(prev_hash) + mid + seq + tail` is
 * exactly `canonicalJson(hashedContent(event))` (keys sort as account_id, actor, data, occurred_at,
 * prev_hash, record_id, seq, type). The database's `audit_append` hashes it that way.
 */
export function hashedContentPieces(d: AuditEventDraft): { head: string; mid: string; tail: string } {
  return {
    head: `{"account_id":${canonicalJson(d.account_id)},"actor":${canonicalJson(d.actor)},"data":${canonicalJson(d.data)},"occurred_at":${canonicalJson(d.occurred_at)},"prev_hash":`,
    mid: `,"record_id":${canonicalJson(d.record_id)},"seq":`,
    tail: `,"type":${canonicalJson(d.type)}}`,
  };
}

/** Chains drafts after a head (the account's last seq and hash). Pure; the store serialises per account. */
export function chainEvents(head: { seq: number; hash: string | null }, drafts: readonly AuditEventDraft[]): Omit<AuditEvent, 'id'>[] {
  let seq = head.seq;
  let prev = head.hash;
  return drafts.map((d) => {
    seq += 1;
    const body = { ...d, seq, prev_hash: prev };
    const hash = computeEventHash(body);
    prev = hash;
    return { ...body, hash };
  });
}

export interface ChainBreak {
  readonly event_id: string;
  readonly account_id: string;
  readonly seq: number;
  readonly problem: string;
}

/**
 * Walks one account's events in seq order, checking each against its hash, its link to the previous
 * event and, at the end, the account's recorded head (which catches deleted newest events).
 * Incremental so `audit verify` can stream millions of rows.
 */
export class ChainVerifier {
  private prev: string | null = null;
  private expectedSeq = 1;
  private last: AuditEvent | null = null;
  private broken: ChainBreak | null = null;
  /** Redacted events not yet vouched for by a later privacy.erased event listing their seq. */
  private readonly unvouched = new Map<number, AuditEvent>();

  constructor(readonly accountId: string) {}

  get count(): number {
    return this.expectedSeq - 1;
  }

  /** Checks the next event; returns the break (and keeps returning it) once the chain is broken. */
  push(e: AuditEvent): ChainBreak | null {
    if (this.broken) return this.broken;
    const at = (problem: string): ChainBreak => (this.broken = { event_id: e.id, account_id: e.account_id, seq: e.seq, problem });
    if (e.seq !== this.expectedSeq) {
      return at(
        e.seq > this.expectedSeq
          ? `event(s) with seq ${this.expectedSeq}..${e.seq - 1} are missing (deleted?) before seq ${e.seq}`
          : `seq ${e.seq} is out of order (expected ${this.expectedSeq})`,
      );
    }
    if (e.prev_hash !== this.prev) {
      return at(`prev_hash ${short(e.prev_hash)} does not match the previous event's hash ${short(this.prev)} (rows deleted or reordered)`);
    }
    // A redacted event's content cannot be recomputed; its hash is still what the next event links
    // to, and a later (hashed) privacy.erased event must name it.
    const recomputed = e.redacted_at ? e.hash : computeEventHash(e);
    if (e.redacted_at) this.unvouched.set(e.seq, e);
    if (e.type === 'privacy.erased' && Array.isArray(e.data.redacted_seqs))
      for (const s of e.data.redacted_seqs) if (typeof s === 'number' && s < e.seq) this.unvouched.delete(s);
    if (recomputed !== e.hash) {
      return at(`content does not match its hash (stored ${short(e.hash)}, recomputed ${short(recomputed)}): the row was altered`);
    }
    this.prev = e.hash;
    this.expectedSeq += 1;
    this.last = e;
    return null;
  }

  /** Compares the end of the chain with the recorded head. */
  finish(head: { seq: number; hash: string | null } | null): ChainBreak | null {
    if (this.broken) return this.broken;
    const [r] = this.unvouched.values();
    if (r) {
      return (this.broken = {
        event_id: r.id,
        account_id: r.account_id,
        seq: r.seq,
        problem: 'the event is marked redacted but no later privacy.erased event names it: its content was changed outside an erasure',
      });
    }
    const endSeq = this.expectedSeq - 1;
    if (head && (head.seq !== endSeq || head.hash !== this.prev)) {
      return (this.broken = {
        event_id: this.last?.id ?? '(none)',
        account_id: this.accountId,
        seq: endSeq,
        problem: `chain ends at seq ${endSeq} but the recorded head is seq ${head.seq} (${short(head.hash)}): the newest event(s) were deleted`,
      });
    }
    return null;
  }
}

/** Verifies a whole chain held in memory. */
export function verifyChain(accountId: string, events: readonly AuditEvent[], head: { seq: number; hash: string | null } | null): ChainBreak | null {
  const v = new ChainVerifier(accountId);
  for (const e of events) {
    const b = v.push(e);
    if (b) return b;
  }
  return v.finish(head);
}

const short = (h: string | null) => (h === null ? 'null' : h.slice(0, 12));
