import { RecordRequestSchema, KINDS } from '../records/kinds';
import type { Kind, LifecycleRecord, RecordRequest } from '../records/kinds';
import { canonicalJson } from '../records/audit';
import { assessRequest } from '../records/validation';
import type { Assessment } from '../records/validation';
import { validationError } from '../records/errors';
import type { Problem } from '../records/errors';
import { problemsFromZod } from '../records/problems';
import { reasonProblem } from '../records/reasons';
import type { Actor } from '../records/actors';
import type { Account } from '../records/accounts';
import type { AuditEvent } from '../records/audit';
import type { OutboxMessage, UnitOfWork } from '../records/ports';
import type { AppDeps } from './deps';
import { followUpsOf } from './record-events';

export interface CreateRecordInput {
  /** Untrusted request body (API) or mapped ticket fields (Zendesk). */
  readonly request: unknown;
  readonly actor: Actor;
  /**
   * What to do with an incomplete or invalid request: `reject` (the API: 422, nothing stored) or
   * `draft` (a ticket: store a draft listing the problems so the agent can fix the ticket).
   */
  readonly onProblems: 'reject' | 'draft';
  /** Extra outbox messages that must commit with the record. */
  readonly messages?: (record: LifecycleRecord) => readonly OutboxMessage[];
  /** Problems found before validation (e.g. a ticket field that could not be read); they keep the record a draft. */
  readonly extraProblems?: readonly Problem[];
  /**
   * The instant the request is evaluated at ("immediately", proration, dates in the past), when
   * not the transaction's now: a previewed request is filed as of its preview (see `preview-record.ts`).
   */
  readonly at?: Date;
}

export interface Evaluation {
  readonly request: RecordRequest | null;
  readonly problems: readonly Problem[];
  readonly assessment: Assessment | null;
}

/** Reads an account; callers that already loaded the accounts they need pass a lookup over them. */
export type AccountLookup = (id: string) => Promise<Account | null>;

/**
 * An account lookup over accounts already loaded: ids in `asked` answer from `found` (absent
 * means no such account); any other id is read.
 */
export const preloadedAccounts = (uow: UnitOfWork, asked: readonly string[], found: ReadonlyMap<string, Account>): AccountLookup => {
  const askedSet = new Set(asked);
  return async (id) => (askedSet.has(id) ? (found.get(id) ?? null) : uow.accounts.get(id));
};

/** Structural parse, then the business checks against the account and the catalog. */
export async function evaluateRequest(
  uow: UnitOfWork,
  deps: Pick<AppDeps, 'catalog' | 'reasons'>,
  raw: unknown,
  now: Date,
  extraProblems: readonly Problem[] = [],
  accounts: AccountLookup = (id) => uow.accounts.get(id),
): Promise<Evaluation> {
  const ev = withReasonProblem(deps, raw, await evaluateParsed(accounts, deps, raw, now));
  return extraProblems.length ? { ...ev, problems: [...extraProblems, ...ev.problems] } : ev;
}

/**
 * A reason code outside the taxonomy keeps the record a draft (or is a 422 from the API), and the
 * problem lists the codes allowed for its kind and subtype, so the agent can pick one. A missing
 * code's "is required" names them too.
 */
function withReasonProblem(deps: Pick<AppDeps, 'reasons'>, raw: unknown, ev: Evaluation): Evaluation {
  if (!deps.reasons) return ev;
  const r = obj(raw);
  const problem = reasonProblem(deps.reasons, r.kind, r.subtype, typeof r.reason_code === 'string' ? r.reason_code.trim() : r.reason_code);
  if (!problem) return ev;
  const others = ev.problems.filter((p) => p.field !== 'reason_code');
  return { request: ev.request, assessment: ev.assessment, problems: [problem, ...others] };
}

async function evaluateParsed(accounts: AccountLookup, deps: Pick<AppDeps, 'catalog'>, raw: unknown, now: Date): Promise<Evaluation> {
  const parsed = RecordRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = problemsFromZod(parsed.error);
    // Tell the agent everything at once: when only free-text fields are missing, still run the
    // business checks on the rest (with placeholders that are never stored).
    const fillable = new Set(['reason_code', 'requested_by']);
    if (problems.every((p) => fillable.has(p.field))) {
      const filled = RecordRequestSchema.safeParse({ ...obj(raw), ...Object.fromEntries(problems.map((p) => [p.field, 'unspecified'])) });
      if (filled.success) {
        const more = (await assess(accounts, deps, filled.data, now)).problems;
        problems.push(...more.filter((m) => !problems.some((p) => p.field === m.field)));
      }
    }
    return { request: null, problems, assessment: null };
  }
  const assessment = await assess(accounts, deps, parsed.data, now);
  return { request: parsed.data, problems: assessment.problems, assessment };
}

async function assess(accounts: AccountLookup, deps: Pick<AppDeps, 'catalog'>, request: RecordRequest, now: Date): Promise<Assessment> {
  const account = await accounts(request.account_id);
  const related = new Map<string, Account>();
  if (request.kind === 'status_change' && request.details.merge) {
    const target = await accounts(request.details.merge.target_account_id);
    if (target) related.set(target.id, target);
  }
  return assessRequest(request, { account, catalog: deps.catalog, now, relatedAccounts: related });
}

/** Account id of drafts that do not name one yet (their audit events chain under it until they do). */
export const UNASSIGNED_ACCOUNT = 'unassigned';

const str = (v: unknown): string => (typeof v === 'string' ? v.trim().slice(0, 200) : '');
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** The account a record built from this raw request belongs to, and chains its audit events under. */
export const accountIdOf = (raw: unknown): string => str(obj(raw).account_id) || UNASSIGNED_ACCOUNT;

/** Builds the record from an evaluation: submitted when clean, otherwise a draft carrying its problems. */
export function recordFromEvaluation(id: string, raw: unknown, ev: Evaluation, actor: Actor, nowIso: string): LifecycleRecord {
  const r = obj(raw);
  const req = ev.request;
  const a = ev.assessment;
  const clean = ev.problems.length === 0 && req !== null && a !== null;
  return {
    id,
    kind: (req?.kind ?? r.kind) as Kind,
    subtype: req?.subtype ?? str(r.subtype),
    account_id: req?.account_id ?? accountIdOf(r),
    ticket_id: req?.ticket_id ?? (str(r.ticket_id) || null),
    requested_by: req?.requested_by ?? (str(r.requested_by) || actor.id),
    requester: req?.requester ?? null,
    reason_code: req?.reason_code ?? str(r.reason_code),
    reason_text: req?.reason_text ?? (typeof r.reason_text === 'string' ? r.reason_text.slice(0, 5000) : ''),
    effective: a?.effective ?? req?.effective ?? null,
    effective_at: a?.effective_at ?? null,
    state: clean ? 'submitted' : 'draft',
    version: 1,
    details: a?.details ?? req?.details ?? obj(r.details),
    amount: a?.amount ?? null,
    risk_flags: [],
    problems: [...ev.problems],
    created_at: nowIso,
    updated_at: nowIso,
  };
}

export interface CreateRecordOutcome {
  readonly record: LifecycleRecord;
  readonly events: readonly AuditEvent[];
}

/** Creates a lifecycle record with its creation audit event and outbox rows, in the caller's transaction. */
export async function createRecordIn(uow: UnitOfWork, deps: AppDeps, input: CreateRecordInput, now: Date): Promise<CreateRecordOutcome> {
  const [created] = await createRecordsIn(uow, deps, [input], now);
  return created!;
}

/**
 * Creates several records in the caller's transaction with one statement per table (records,
 * audit events, outbox), which is what lets webhook intake take deliveries in batches. Each
 * input is validated on its own; with `onProblems: 'reject'` the first invalid one throws.
 */
export async function createRecordsIn(
  uow: UnitOfWork,
  deps: AppDeps,
  inputs: readonly CreateRecordInput[],
  now: Date,
  opts: { accounts?: AccountLookup; alsoPublish?: readonly OutboxMessage[]; withoutFollowUps?: readonly string[] } = {},
): Promise<CreateRecordOutcome[]> {
  const records: LifecycleRecord[] = [];
  for (const input of inputs) {
    const kind = obj(input.request).kind;
    if (!KINDS.includes(kind as Kind)) {
      throw validationError([{ field: 'kind', message: `expected one of: ${KINDS.join(', ')}` }]);
    }
    const ev = await evaluateRequest(uow, deps, input.request, input.at ?? now, input.extraProblems, opts.accounts);
    if (ev.problems.length > 0 && input.onProblems === 'reject') throw validationError(ev.problems);
    records.push(recordFromEvaluation(deps.ids.newId(), input.request, ev, input.actor, now.toISOString()));
  }
  await uow.records.insertMany(records);
  const events = await uow.audit.append(
    records.map((record, i) => ({
      account_id: record.account_id,
      record_id: record.id,
      type: 'record.created',
      actor: inputs[i]!.actor,
      occurred_at: record.created_at,
      data: {
        state: record.state,
        kind: record.kind,
        subtype: record.subtype,
        ticket_id: record.ticket_id,
        effective: record.effective,
        amount: record.amount,
        details: record.details,
        problems: record.problems,
      },
    })),
  );
  await uow.outbox.add([
    ...records.flatMap((record, i) => [
      ...followUpsOf(record, null).filter((m) => !opts.withoutFollowUps?.includes(m.topic)),
      ...(inputs[i]!.messages?.(record) ?? []),
    ]),
    ...(opts.alsoPublish ?? []),
  ]);
  return records.map((record, i) => ({ record, events: [events[i]!] }));
}

export function createRecord(deps: AppDeps, input: CreateRecordInput): Promise<CreateRecordOutcome> {
  return deps.store.transaction((uow) => createRecordIn(uow, deps, input, deps.clock.now()));
}

/** Fields of a draft that a revision (a changed ticket, the sidebar's fix) may change. */
const REVISABLE = [
  'kind',
  'subtype',
  'account_id',
  'requested_by',
  'requester',
  'reason_code',
  'reason_text',
  'effective',
  'effective_at',
  'details',
  'amount',
  'problems',
] as const;

/** What a revision changes in a draft: each revisable field whose value differs in the candidate. */
export function revisionPatch(draft: LifecycleRecord, candidate: LifecycleRecord): Partial<Pick<LifecycleRecord, (typeof REVISABLE)[number]>> {
  const patch: Record<string, unknown> = {};
  for (const f of REVISABLE) if (canonicalJson(candidate[f]) !== canonicalJson(draft[f])) patch[f] = candidate[f];
  return patch;
}
