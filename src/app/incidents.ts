import { parse as parseCsv } from 'csv-parse/sync';
import type { Actor } from '../records/actors';
import { systemActor } from '../records/actors';
import type { Account } from '../records/accounts';
import { findPlan } from '../records/catalog';
import { AppError } from '../records/errors';
import type { Problem } from '../records/errors';
import {
  IncidentInputSchema,
  MAX_INCIDENT_ACCOUNTS,
  incidentCreditFor,
  incidentCreditRequest,
  normaliseFilter,
  summariseBatch,
  widenFilters,
} from '../records/incidents';
import type { BatchCredit, BatchDecision, BatchSummary, IncidentCredit, NoCreditCode } from '../records/incidents';
import type { LifecycleRecord } from '../records/kinds';
import { decideIncidentPolicy, decidePolicy } from '../records/policy';
import type { Policy } from '../records/policy';
import { RISK_FLAGS, explainRiskFlags } from '../records/risk';
import type { RiskExplanation } from '../records/risk';
import { problemsFromZod } from '../records/problems';
import { reasonProblem } from '../records/reasons';
import type { IncidentBatch, OutboxMessage, StoredIncident, UnitOfWork } from '../records/ports';
import { createRecordsIn, evaluateRequest, preloadedAccounts } from './create-record';
import type { CreateRecordInput } from './create-record';
import type { ApproverDirectory } from './decide-approval';
import type { AppDeps } from './deps';
import { retryRecord } from './apply-record';
import { transitionIn } from './transition-record';
import { TOPICS } from './topics';

/**
 * Incident credits in bulk (README "Incidents"): one posting computes every affected account's
 * credit and files it as a normal service_credit/outage record (validated, risk-flagged, audited on
 * the account's chain), all waiting for ONE approval of the batch. The decision approves (or
 * rejects) the records through the lifecycle; each approved record is then applied and its
 * customer emailed by the normal jobs, one by one, at the billing provider's pace.
 */

export interface IncidentDeps extends AppDeps {
  readonly policy: Policy;
}

const POLICY = systemActor('policy');
/** Records created, flagged and moved per statement group; keeps bindings under PostgreSQL's limit. */
const CHUNK = 500;
/** How often a batch's Slack message is refreshed while its credits are being applied. */
export const PROGRESS_EVERY_MS = 3000;

/** Incident-level events (posted, batch decided, refused clicks) chain under this pseudo-account. */
export const incidentChain = (incidentId: string) => `incident:${incidentId}`;

export interface SkippedAccount {
  readonly account_id: string;
  readonly code: NoCreditCode | 'invalid';
  readonly message: string;
}

export interface CreateIncidentOutcome {
  readonly incident: StoredIncident;
  /** True when the reference was new. */
  readonly created: boolean;
  readonly batch: IncidentBatch | null;
  readonly records_created: number;
  readonly already_credited: number;
  readonly skipped_count: number;
  /** Why accounts the filter selected got no credit now: counts per code, and the first 100. */
  readonly skipped_by_code: Readonly<Record<string, number>>;
  readonly skipped: readonly SkippedAccount[];
}

/** Account ids from a CSV with a header row: an `account_id` or `id` column, or the only column. */
export function accountIdsFromCsv(csv: string): string[] {
  let rows: Record<string, string>[];
  try {
    rows = parseCsv(csv, { columns: true, skip_empty_lines: true, bom: true, trim: true }) as Record<string, string>[];
  } catch (err) {
    throw new AppError('validation_failed', `accounts.csv: not valid CSV (${(err as Error).message})`, {
      problems: [{ field: 'accounts.csv', message: 'not valid CSV' }],
    });
  }
  if (rows.length === 0) return [];
  const columns = Object.keys(rows[0]!);
  const column = columns.includes('account_id') ? 'account_id' : columns.includes('id') ? 'id' : columns.length === 1 ? columns[0]! : null;
  if (!column) {
    throw new AppError('validation_failed', `accounts.csv: no account_id column (columns: ${columns.join(', ')})`, {
      problems: [{ field: 'accounts.csv', message: 'needs a header row with an account_id (or id) column' }],
    });
  }
  const ids = [...new Set(rows.map((r) => (r[column] ?? '').trim()).filter(Boolean))];
  if (ids.length > MAX_INCIDENT_ACCOUNTS) {
    throw new AppError('validation_failed', `accounts.csv: ${ids.length} accounts, at most ${MAX_INCIDENT_ACCOUNTS}`, {
      problems: [{ field: 'accounts.csv', message: 'too many accounts' }],
    });
  }
  return ids;
}

const sameWindow = (a: StoredIncident, b: StoredIncident) =>
  a.starts_at === b.starts_at &&
  a.ends_at === b.ends_at &&
  a.service === b.service &&
  JSON.stringify(a.plans) === JSON.stringify(b.plans) &&
  a.measured_uptime_percent === b.measured_uptime_percent;

/**
 * Posts an incident (or re-posts it, possibly with a wider filter): in one transaction, under the
 * incident's row lock, every selected account not yet credited for it gets its credit record and
 * one batch holds them for a single approval. Accounts already credited are left alone (the
 * (incident, account) key makes that hold even for two postings at once), so posting again is safe.
 */
export async function createIncident(deps: IncidentDeps, raw: unknown, actor: Actor): Promise<CreateIncidentOutcome> {
  const parsed = IncidentInputSchema.safeParse(raw);
  if (!parsed.success) throw new AppError('validation_failed', 'Invalid incident', { problems: problemsFromZod(parsed.error) });
  const input = parsed.data;
  const problems: Problem[] = [];
  for (const plan of [...(input.plans ?? []), ...(input.accounts.plans ?? [])]) {
    if (!findPlan(deps.catalog, plan))
      problems.push({ field: 'plans', message: `"${plan}" is not a plan of the catalog; expected one of: ${deps.catalog.plans.map((p) => p.id).join(', ')}` });
  }
  const approvers = deps.policy.incidents.approvers ?? deps.policy.approvers;
  if (approvers.user_ids.length + approvers.user_groups.length === 0) {
    throw new AppError(
      'policy_invalid',
      'The approval policy names no approvers for incident credits (incidents.approvers or the top-level approvers); nobody could approve the batch',
      {
        retryable: false,
      },
    );
  }
  const reason = deps.reasons ? reasonProblem(deps.reasons, 'service_credit', 'outage', input.reason_code) : null;
  if (reason) problems.push(reason);
  if (problems.length) throw new AppError('validation_failed', 'Invalid incident', { problems });
  const filter = normaliseFilter(input.accounts, input.accounts.csv !== undefined ? accountIdsFromCsv(input.accounts.csv) : []);

  return deps.store.transaction(async (uow) => {
    const now = deps.clock.now();
    const at = now.toISOString();
    const fresh: StoredIncident = {
      id: deps.ids.newId(),
      reference: input.reference,
      starts_at: input.starts_at,
      ends_at: input.ends_at,
      service: input.service,
      plans: input.plans ?? [],
      measured_uptime_percent: input.measured_uptime_percent ?? null,
      filters: [],
      reason_code: input.reason_code,
      created_by: input.requested_by,
      created_at: at,
      updated_at: at,
    };
    const stored = await uow.incidents.upsertForUpdate(fresh);
    const created = stored.id === fresh.id;
    if (!sameWindow(stored, fresh)) {
      throw new AppError(
        'conflict',
        `Incident ${input.reference} was posted with another window, service, plans or uptime (${stored.starts_at} → ${stored.ends_at}, ${stored.service}); re-post it with the same ones (only the account filter may widen), or use a new reference`,
        { details: { incident_id: stored.id } },
      );
    }
    if (new Date(stored.ends_at) > now) {
      throw new AppError('validation_failed', `Incident ${input.reference} ends ${stored.ends_at}, in the future; post it once it is over`, {
        problems: [{ field: 'ends_at', message: 'is in the future' }],
      });
    }
    const filters = widenFilters(stored.filters, filter);
    const incident: StoredIncident = { ...stored, filters };
    if (filters.length !== stored.filters.length) await uow.incidents.saveFilters(stored.id, filters, at);

    const selected = await uow.incidents.matchAccounts(filters, incident.plans);
    const credited = await uow.incidents.creditedAccounts(incident.id);
    const todo = selected.filter((a) => !credited.has(a.id));
    const skipped: SkippedAccount[] = [];
    const wanted: { account: Account; credit: Extract<IncidentCredit, { ok: true }>; request: Record<string, unknown> }[] = [];
    const records: LifecycleRecord[] = [];
    const byId = new Map(todo.map((a) => [a.id, a]));
    const lookup = preloadedAccounts(uow, [...byId.keys()], byId);
    // In chunks: compute and check a chunk's credits, then file them (records created submitted,
    // with no policy job: the batch is the policy step). Computing all 10,000 first would leave the
    // transaction idle long enough for the server's idle-in-transaction limit to end it.
    for (let i = 0; i < todo.length; i += CHUNK) {
      const chunk: typeof wanted = [];
      for (const account of todo.slice(i, i + CHUNK)) {
        const credit = incidentCreditFor(account, deps.catalog, incident, now);
        if (!credit.ok) {
          skipped.push({ account_id: account.id, code: credit.code, message: credit.message });
          continue;
        }
        const request = incidentCreditRequest({ ...incident, reason_text: input.reason_text }, account, credit, input.requested_by);
        // The record's own validation has the last word: an account it refuses is reported, not half-filed.
        const ev = await evaluateRequest(uow, deps, request, now, [], lookup);
        if (ev.problems.length) {
          skipped.push({
            account_id: account.id,
            code: 'invalid',
            message: ev.problems
              .map((p) => `${p.field}: ${p.message}`)
              .join('; ')
              .slice(0, 500),
          });
          continue;
        }
        chunk.push({ account, credit, request });
      }
      if (chunk.length === 0) continue;
      const inputs: CreateRecordInput[] = chunk.map((w) => ({ request: w.request, actor, onProblems: 'reject' }));
      const made = await createRecordsIn(uow, deps, inputs, now, { accounts: lookup, withoutFollowUps: [TOPICS.recordAdvance, TOPICS.policyEvaluate] });
      records.push(...made.map((m) => m.record));
      wanted.push(...chunk);
    }

    const outcome = (batch: IncidentBatch | null, n: number): CreateIncidentOutcome => {
      const byCode: Record<string, number> = {};
      for (const s of skipped) byCode[s.code] = (byCode[s.code] ?? 0) + 1;
      return {
        incident,
        created,
        batch,
        records_created: n,
        already_credited: selected.length - todo.length,
        skipped_count: skipped.length,
        skipped_by_code: byCode,
        skipped: skipped.slice(0, 100),
      };
    };
    if (wanted.length === 0) {
      if (created) await auditIncident(uow, incident, actor, at, 'incident.posted', { filters, records_created: 0, skipped: skipped.length });
      return outcome(null, 0);
    }

    // Then each is risk-flagged and moved to pending_approval, with no Slack request of its own.
    const batchId = deps.ids.newId();
    const credits: BatchCredit[] = [];
    const risks = new Map<string, RiskExplanation[]>();
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      const { account, credit } = wanted[i]!;
      const facts = await uow.risk.facts(record, now, deps.policy.risk);
      // Every credit of the batch has the same requester by construction; that is the incident,
      // not an agent filing unusually many credits, so the agent-volume flag does not apply.
      const explained = explainRiskFlags(record, account, facts, deps.policy.risk).filter((e) => e.flag !== RISK_FLAGS.agentCreditVolume);
      risks.set(record.id, explained);
      credits.push({ account_id: account.id, credit: credit.credit, uptime_percent: credit.uptime_percent, risk: explained });
    }
    const summary = summariseBatch(credits);
    const decision = decideIncidentPolicy(deps.policy, summary.totals);
    for (const record of records) {
      const explained = risks.get(record.id)!;
      await transitionIn(uow, now, {
        recordId: record.id,
        event: 'request_approval',
        actor: POLICY,
        expectedVersion: record.version,
        patch: { risk_flags: explained.map((e) => e.flag) },
        data: {
          rule: decision.rule,
          approvals_required: decision.approvals,
          risk_flags: explained.map((e) => e.flag),
          incident_id: incident.id,
          incident_reference: incident.reference,
          batch_id: batchId,
        },
        withoutFollowUps: [TOPICS.approvalRequest],
      });
    }
    const batch: IncidentBatch = {
      id: batchId,
      incident_id: incident.id,
      seq: await uow.incidents.nextBatchSeq(incident.id),
      status: 'pending',
      approvals_required: decision.approvals,
      approvers: decision.approvers,
      summary,
      requested_by: input.requested_by,
      channel: null,
      message_ts: null,
      reason: null,
      created_at: at,
      decided_at: null,
    };
    await uow.incidents.createBatch(batch);
    await uow.incidents.addCredits(
      incident.id,
      records.map((r) => ({ account_id: r.account_id, record_id: r.id, batch_id: batchId, flagged: risks.get(r.id)!.length > 0 })),
      at,
    );
    await auditIncident(uow, incident, actor, at, 'incident.posted', {
      filters,
      batch_id: batchId,
      records_created: records.length,
      skipped: skipped.length,
      totals: summary.totals,
      flagged: summary.flagged_count,
      approvals_required: decision.approvals,
      rule: decision.rule,
    });
    await uow.outbox.add([{ topic: TOPICS.incidentApproval, key: `incident-approval.${batchId}`, payload: { batch_id: batchId } }]);
    return outcome(batch, records.length);
  });
}

async function auditIncident(uow: UnitOfWork, incident: StoredIncident, actor: Actor, at: string, type: string, data: Record<string, unknown>) {
  await uow.audit.append([
    {
      account_id: incidentChain(incident.id),
      record_id: null,
      type,
      actor,
      occurred_at: at,
      data: { incident_id: incident.id, reference: incident.reference, ...data },
    },
  ]);
}

export interface BatchDecisionInput {
  readonly batchId: string;
  readonly decision: BatchDecision;
  readonly approverId: string;
  readonly approverName?: string;
  readonly reason?: string;
}

export type BatchRefusal =
  'not_found' | 'not_pending' | 'already_decided' | 'not_approver' | 'identity_unknown' | 'self_approval' | 'same_approver' | 'reason_required';

export type BatchDecisionOutcome =
  | {
      readonly status: 'decided';
      readonly outcome: 'approved' | 'approved_unflagged' | 'rejected';
      readonly approved: number;
      readonly rejected: number;
      readonly individual: number;
      readonly approvers: string[];
    }
  | { readonly status: 'recorded'; readonly approvals: number; readonly required: number }
  | { readonly status: 'refused'; readonly code: BatchRefusal; readonly message: string };

const AUDITED: readonly BatchRefusal[] = ['not_approver', 'identity_unknown', 'self_approval', 'same_approver'];

const UNKNOWN_IDENTITY = (why: string) =>
  `Your decision was not recorded: ${why}, so we cannot check that you are allowed to decide these credits ` +
  '(and that you did not post the incident yourself). Try again in a minute; if it keeps happening, ask an admin to check ' +
  "the Slack app's users:read.email and usergroups:read scopes.";

/**
 * One decision on a batch, with the rules of single approvals (decide-approval.ts): approvers from
 * the policy, never the agent who posted the incident (by Slack id or email), distinct people when
 * two are required, identities Slack cannot confirm refused (fail closed), a reason for a rejection.
 * Lookups happen before the transaction; in it the batch row is locked, so concurrent clicks decide once.
 *
 * - `approve_all`: every credit still pending is approved (and then applied by the jobs).
 * - `approve_unflagged`: the same for credits without risk flags; flagged ones go to individual
 *   approval (a normal approval request each, posted in Slack by the usual job).
 * - `reject`: every credit still pending is rejected with the reason. The customers never asked for
 *   these credits, so they are not emailed about a rejection.
 * With two approvers required, the batch is decided by the second approval; if either chose
 * `approve_unflagged`, flagged credits go to individual approval.
 */
export async function decideIncidentBatch(
  deps: Pick<IncidentDeps, 'store' | 'clock' | 'policy'> & { directory: ApproverDirectory },
  input: BatchDecisionInput,
): Promise<BatchDecisionOutcome> {
  const batch = await deps.store.transaction((uow) => uow.incidents.getBatch(input.batchId));
  if (!batch) return { status: 'refused', code: 'not_found', message: 'This incident batch no longer exists.' };
  const [email, groups] = await Promise.all([
    deps.directory.emailOf(input.approverId),
    batch.approvers.user_groups.length ? deps.directory.groupsOf(input.approverId, batch.approvers.user_groups) : Promise.resolve([] as string[]),
  ]);
  return deps.store.transaction(async (uow) => {
    const now = deps.clock.now();
    const at = now.toISOString();
    const actor: Actor = { role: 'supervisor', id: input.approverId, ...(input.approverName ? { name: input.approverName.slice(0, 200) } : {}) };
    const locked = await uow.incidents.getBatchForUpdate(input.batchId);
    if (!locked) return { status: 'refused', code: 'not_found', message: 'This incident batch no longer exists.' };
    const incident = (await uow.incidents.get(locked.incident_id))!;
    const decisions = await uow.incidents.decisions(locked.id);
    const mine = decisions.find((d) => d.approver_id === input.approverId);
    const refuse = async (code: BatchRefusal, message: string, extra: Record<string, unknown> = {}): Promise<BatchDecisionOutcome> => {
      if (AUDITED.includes(code))
        await auditIncident(uow, incident, actor, at, 'incident.batch_refused', { batch_id: locked.id, code, decision: input.decision, ...extra });
      return { status: 'refused', code, message };
    };
    if (locked.status !== 'pending') {
      return mine
        ? refuse('already_decided', `You already decided these credits; the batch is ${locked.status.replace('_', ' ')}.`)
        : refuse('not_pending', `These credits are already ${locked.status.replace('_', ' ')}; nothing to decide.`);
    }
    if (!locked.approvers.user_ids.includes(input.approverId)) {
      if (groups === null) return refuse('identity_unknown', UNKNOWN_IDENTITY('your user group membership could not be checked'), { unknown: 'groups' });
      if (groups.length === 0) return refuse('not_approver', 'You are not an approver for incident credits (policy "incidents").');
    }
    if (email === null) return refuse('identity_unknown', UNKNOWN_IDENTITY('Slack did not give us your email address'), { unknown: 'email' });
    const r = locked.requested_by.trim().toLowerCase();
    if (r === input.approverId.toLowerCase() || r === email.trim().toLowerCase()) {
      return refuse('self_approval', 'You posted this incident, so you cannot decide its credits; another approver must.');
    }
    if (mine) return refuse('same_approver', 'You already approved these credits; a different approver must give the next approval.');
    const reason = input.reason?.trim() ?? '';
    if (input.decision === 'reject' && !reason) return refuse('reason_required', 'A rejection needs a reason.');

    await uow.incidents.addDecision(locked.id, { approver_id: input.approverId, decision: input.decision, reason: reason || null, decided_at: at });
    const approvals = [
      ...decisions.filter((d) => d.decision !== 'reject'),
      ...(input.decision === 'reject' ? [] : [{ approver_id: input.approverId, decision: input.decision }]),
    ];
    if (input.decision !== 'reject' && approvals.length < locked.approvals_required) {
      await auditIncident(uow, incident, actor, at, 'incident.batch_approval_recorded', {
        batch_id: locked.id,
        decision: input.decision,
        approvals: approvals.length,
        required: locked.approvals_required,
      });
      await uow.outbox.add([progressMessage(locked.id, `a${approvals.length}`)]);
      return { status: 'recorded', approvals: approvals.length, required: locked.approvals_required };
    }

    const outcome = input.decision === 'reject' ? 'rejected' : approvals.some((d) => d.decision === 'approve_unflagged') ? 'approved_unflagged' : 'approved';
    const approvers = outcome === 'rejected' ? [input.approverId] : approvals.map((d) => d.approver_id);
    const links = await uow.incidents.batchCredits(locked.id);
    await uow.records.lockMany(links.map((l) => l.record_id));
    let approved = 0;
    let rejected = 0;
    let individual = 0;
    const rule = `incident ${incident.reference}`;
    for (const link of links) {
      const record = await uow.records.get(link.record_id);
      // Withdrawn (or otherwise moved) on its own meanwhile: the batch decides only what still waits.
      if (!record || record.state !== 'pending_approval') continue;
      const data = { incident_id: incident.id, batch_id: locked.id, rule };
      if (outcome === 'rejected') {
        await transitionIn(uow, now, {
          recordId: record.id,
          event: 'reject',
          actor,
          expectedVersion: record.version,
          reason,
          data,
          withoutFollowUps: [TOPICS.emailSend, TOPICS.approvalUpdate],
        });
        rejected++;
      } else if (link.flagged && outcome === 'approved_unflagged') {
        await requestIndividualApproval(uow, deps.policy, record, now, locked.id);
        individual++;
      } else {
        await transitionIn(uow, now, {
          recordId: record.id,
          event: 'approve',
          actor,
          expectedVersion: record.version,
          data: { ...data, approvers },
          withoutFollowUps: [TOPICS.approvalUpdate],
        });
        approved++;
      }
    }
    await uow.incidents.closeBatch(locked.id, outcome, reason || null, at);
    await auditIncident(uow, incident, actor, at, 'incident.batch_decided', {
      batch_id: locked.id,
      outcome,
      approvers,
      approved,
      rejected,
      individual,
      ...(reason ? { reason } : {}),
    });
    await uow.outbox.add([progressMessage(locked.id, 'decided.0')]);
    return { status: 'decided', outcome, approved, rejected, individual, approvers };
  });
}

/** A flagged credit set aside by "approve all except flagged": a normal approval request of its own. */
async function requestIndividualApproval(uow: UnitOfWork, policy: Policy, record: LifecycleRecord, now: Date, batchId: string) {
  const decision = decidePolicy(policy, record, { accountTierRank: null });
  const approvers = policy.incidents.approvers ?? policy.approvers;
  const explained = explainRiskFlags(record, await uow.accounts.get(record.account_id), await uow.risk.facts(record, now, policy.risk), policy.risk).filter(
    (e) => e.flag !== RISK_FLAGS.agentCreditVolume,
  );
  await uow.approvals.create({
    record_id: record.id,
    rule: `flagged incident credit (batch ${batchId})`,
    // It was flagged: at least one person looks at it, whatever the per-record rules would say.
    approvals_required: Math.max(1, decision.approvals),
    approvers,
    escalation: policy.escalation,
    risk: explained,
    reminder_after_hours: policy.reminder_after_hours,
    escalate_after_hours: policy.escalate_after_hours,
    channel: null,
    messages: [],
    requested_at: now.toISOString(),
    decided_at: null,
    outcome: null,
  });
  const later = (hours: number) => new Date(now.getTime() + hours * 3_600_000).toISOString();
  await uow.outbox.add([
    { topic: TOPICS.approvalRequest, key: `approval-request.${record.id}.v${record.version}`, payload: { record_id: record.id, kind: 'initial' } },
    {
      topic: TOPICS.approvalRequest,
      key: `approval-request.${record.id}.reminder`,
      payload: { record_id: record.id, kind: 'reminder' },
      available_at: later(policy.reminder_after_hours),
    },
    {
      topic: TOPICS.approvalRequest,
      key: `approval-request.${record.id}.escalation`,
      payload: { record_id: record.id, kind: 'escalation' },
      available_at: later(policy.escalate_after_hours),
    },
  ]);
}

export const progressMessage = (batchId: string, step: string, availableAt?: string): OutboxMessage => ({
  topic: TOPICS.incidentProgress,
  key: `incident-progress.${batchId}.${step}`,
  payload: { batch_id: batchId, step },
  ...(availableAt ? { available_at: availableAt } : {}),
});

/** States in which a credit is still on its way (the Slack message keeps being refreshed). */
export const IN_FLIGHT_STATES: readonly string[] = ['approved', 'scheduled', 'applying', 'applied'];

/**
 * After a progress refresh: queue the next one while credits are still on their way. A step is
 * `<chain>.<n>` (the decision's chain, or a retry's), so every refresh has its own outbox key; a
 * refresh that finds nothing in flight, or a one-off step, queues nothing.
 */
export async function scheduleNextProgress(deps: Pick<AppDeps, 'store' | 'clock'>, batchId: string, step: string, inFlight: number): Promise<boolean> {
  const m = /^(.+)\.(\d+)$/.exec(step);
  if (inFlight === 0 || !m) return false;
  const next = `${m[1]}.${Number(m[2]) + 1}`;
  await deps.store.transaction((uow) =>
    uow.outbox.add([progressMessage(batchId, next, new Date(deps.clock.now().getTime() + PROGRESS_EVERY_MS).toISOString())]),
  );
  return true;
}

/**
 * Retries one incident credit whose application failed, alone: the record goes back to applying
 * with a fresh billing job (same idempotency keys), and the batch's Slack message is refreshed.
 */
export async function retryIncidentCredit(
  deps: Pick<AppDeps, 'store' | 'clock'>,
  incidentIdOrReference: string,
  accountId: string,
  actor: { role: 'agent' | 'supervisor' | 'system'; id: string },
): Promise<LifecycleRecord> {
  const link = await deps.store.transaction((uow) => uow.incidents.creditFor(incidentIdOrReference, accountId));
  if (!link) throw new AppError('not_found', `Incident ${incidentIdOrReference} has no credit for account ${accountId}`);
  const record = await retryRecord(deps, link.record_id, actor);
  await deps.store.transaction((uow) => uow.outbox.add([progressMessage(link.batch_id, `retry-${record.id}-v${record.version}.0`)]));
  return record;
}

export type { BatchSummary };
