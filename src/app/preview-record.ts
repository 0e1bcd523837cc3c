import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from '../records/audit';
import { AppError } from '../records/errors';
import type { Problem } from '../records/errors';
import type { Actor } from '../records/actors';
import type { Effective, Kind, LifecycleRecord } from '../records/kinds';
import type { Money } from '../records/money';
import type { AuditEvent } from '../records/audit';
import { findPlan } from '../records/catalog';
import { decidePolicy } from '../records/policy';
import type { Policy } from '../records/policy';
import { explainRiskFlags } from '../records/risk';
import type { AppDeps } from './deps';
import type { UnitOfWork } from '../records/ports';
import { createRecordIn, evaluateRequest, recordFromEvaluation } from './create-record';

/**
 * Preview: validate a request and compute its money without storing anything, and file it later
 * with exactly those figures. Both go through the same code (`evaluateRequest` and
 * `recordFromEvaluation`) at the same instant: the preview hands back a signed quote naming the
 * instant it evaluated at and a digest of the request and of the result; filing with the quote
 * evaluates at that instant again and stores the record only if the result is the same. So the
 * stored amounts and effective date are the previewed ones by construction, or nothing is stored
 * (the account changed in between) and the caller is told to preview again.
 */

/** A quote is good for this long: time enough to read the preview and press the button. */
export const QUOTE_TTL_MS = 15 * 60_000;
/** A quote "from the future" by more than this was not made by this clock. */
const QUOTE_SKEW_MS = 60_000;

/** What a record built from the request would hold: what the preview shows and the quote pins. */
export interface PreviewedRecord {
  readonly kind: Kind;
  readonly subtype: string;
  readonly account_id: string;
  readonly state: 'submitted' | 'draft';
  readonly effective: Effective | null;
  readonly effective_at: string | null;
  readonly amount: Money | null;
  readonly details: Record<string, unknown>;
  readonly problems: readonly Problem[];
}

export interface PreviewOutcome {
  /** The instant the request was evaluated at. */
  readonly as_of: string;
  readonly record: PreviewedRecord;
  readonly problems: readonly Problem[];
  /** Pass back when filing to get exactly these figures; null while there are problems. */
  readonly quote: string | null;
  /**
   * What the approval policy would say if it were filed now (when a policy is given and the
   * request is clean): its risk flags and how many approvals. The billing provider's own preview,
   * taken after filing, can still add `provider_amount_mismatch`.
   */
  readonly approval?: {
    readonly rule: string;
    readonly approvals_required: number;
    readonly risk: readonly { readonly flag: string; readonly message: string }[];
  } | null;
}

/** A preview is never stored; this id only keeps it out of the queries that skip "the record itself". */
const UNSTORED_ID = '00000000-0000-0000-0000-000000000000';

/** Signs and checks quotes with a key only the service knows (derived from a configured secret). */
export class QuoteSigner {
  private readonly key: Buffer;
  constructor(secret: string, purpose: string) {
    this.key = createHmac('sha256', secret).update(`lifecycle-desk quote key: ${purpose}`).digest();
  }
  sign(payload: QuotePayload): string {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${createHmac('sha256', this.key).update(body).digest('base64url')}`;
  }
  /** The payload, or null when the quote was not signed with this key or is not a quote. */
  open(quote: string): QuotePayload | null {
    const [body, mac, extra] = quote.split('.');
    if (!body || !mac || extra !== undefined) return null;
    const expected = createHmac('sha256', this.key).update(body).digest();
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    try {
      const p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as QuotePayload;
      return typeof p.at === 'string' && typeof p.request === 'string' && typeof p.result === 'string' ? p : null;
    } catch {
      return null;
    }
  }
}

export interface QuotePayload {
  /** ISO instant the request was evaluated at. */
  readonly at: string;
  /** Digest of the request as previewed. */
  readonly request: string;
  /** Digest of what the record would hold (money, dates, computed details). */
  readonly result: string;
}

const digest = (v: unknown): string => createHash('sha256').update(canonicalJson(v)).digest('hex');

/** The figures a quote pins: everything the evaluation computes. */
const resultOf = (r: Pick<LifecycleRecord, 'kind' | 'subtype' | 'account_id' | 'effective' | 'effective_at' | 'amount' | 'details' | 'problems'>) =>
  digest({
    kind: r.kind,
    subtype: r.subtype,
    account_id: r.account_id,
    effective: r.effective,
    effective_at: r.effective_at,
    amount: r.amount,
    details: r.details,
    problems: r.problems,
  });

const toPreviewed = (r: LifecycleRecord): PreviewedRecord => ({
  kind: r.kind,
  subtype: r.subtype,
  account_id: r.account_id,
  state: r.state === 'submitted' ? 'submitted' : 'draft',
  effective: r.effective,
  effective_at: r.effective_at,
  amount: r.amount,
  details: r.details,
  problems: r.problems,
});

/** Validates and computes a request as of `at` (default: now) without writing anything. */
export async function previewRecord(
  deps: Pick<AppDeps, 'store' | 'clock' | 'catalog'>,
  input: { readonly request: unknown; readonly actor: Actor; readonly at?: Date; readonly extraProblems?: readonly Problem[]; readonly policy?: Policy },
  quotes: QuoteSigner,
): Promise<PreviewOutcome> {
  const at = input.at ?? deps.clock.now();
  const { record, approval } = await deps.store.transaction(async (uow) => {
    const ev = await evaluateRequest(uow, deps, input.request, at, input.extraProblems);
    const candidate = recordFromEvaluation(UNSTORED_ID, input.request, ev, input.actor, at.toISOString());
    if (!input.policy || candidate.state !== 'submitted') return { record: candidate, approval: null };
    // The policy step's own computation (evaluate-policy.ts), read-only.
    const account = await uow.accounts.get(candidate.account_id);
    const risk = explainRiskFlags(candidate, account, await uow.risk.facts(candidate, at, input.policy.risk), input.policy.risk, null);
    const plan = account ? findPlan(deps.catalog, account.plan_id) : undefined;
    const decision = decidePolicy(input.policy, { ...candidate, risk_flags: risk.map((r) => r.flag) }, { accountTierRank: plan?.tier_rank ?? null });
    return { record: candidate, approval: { rule: decision.rule, approvals_required: decision.approvals, risk } };
  });
  const clean = record.problems.length === 0 && record.state === 'submitted';
  return {
    as_of: at.toISOString(),
    record: toPreviewed(record),
    problems: record.problems,
    quote: clean ? quotes.sign({ at: at.toISOString(), request: digest(input.request), result: resultOf(record) }) : null,
    ...(input.policy ? { approval } : {}),
  };
}

/**
 * The instant a quote lets a request be filed at. Refuses (409) a quote that is not ours, belongs
 * to another request, or is too old, so nobody files at an instant of their choosing.
 */
export function quotedInstant(quotes: QuoteSigner, quote: string, request: unknown, now: Date): { at: Date; result: string } {
  const p = quotes.open(quote);
  if (!p)
    throw new AppError('validation_failed', 'The preview quote is not valid; preview the request again', {
      problems: [{ field: 'quote', message: 'not a quote from this service' }],
    });
  if (p.request !== digest(request)) {
    throw new AppError('conflict', 'The request changed since it was previewed; preview it again before filing', { details: { reason: 'request_changed' } });
  }
  const at = new Date(p.at);
  if (!(at.getTime() <= now.getTime() + QUOTE_SKEW_MS) || now.getTime() - at.getTime() > QUOTE_TTL_MS) {
    throw new AppError('conflict', `The preview is more than ${QUOTE_TTL_MS / 60_000} minutes old; preview the request again before filing`, {
      details: { reason: 'quote_expired' },
    });
  }
  return { at, result: p.result };
}

/** Throws a conflict when a record evaluated at the quote's instant differs from the preview. */
export function assertMatchesQuote(record: LifecycleRecord, result: string): void {
  if (resultOf(record) !== result) {
    throw new AppError('conflict', 'The account or catalog changed since the preview, so the figures would differ; preview the request again', {
      details: { reason: 'result_changed' },
    });
  }
}

/** Files a previewed request in the caller's transaction: same evaluation, same instant, and the same figures or nothing. */
export async function createQuotedRecordIn(
  uow: UnitOfWork,
  deps: AppDeps,
  input: { readonly request: unknown; readonly actor: Actor; readonly quote: string },
  quotes: QuoteSigner,
  now: Date,
): Promise<{ record: LifecycleRecord; events: readonly AuditEvent[] }> {
  const { at, result } = quotedInstant(quotes, input.quote, input.request, now);
  const created = await createRecordIn(uow, deps, { request: input.request, actor: input.actor, onProblems: 'reject', at }, now);
  // Throwing here rolls the whole transaction back: nothing is stored with other figures.
  assertMatchesQuote(created.record, result);
  return created;
}

export function createQuotedRecord(
  deps: AppDeps,
  input: { readonly request: unknown; readonly actor: Actor; readonly quote: string },
  quotes: QuoteSigner,
): Promise<{ record: LifecycleRecord; events: readonly AuditEvent[] }> {
  return deps.store.transaction((uow) => createQuotedRecordIn(uow, deps, input, quotes, deps.clock.now()));
}
