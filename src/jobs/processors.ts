import { z } from 'zod';
import { AppError } from '../records/errors';
import { TOPICS } from '../app/topics';
import type { Topic } from '../app/topics';
import { applyRecord, failRecord, unscheduleRecord } from '../app/apply-record';
import type { ApplyDeps } from '../app/apply-record';
import { sendCustomerEmail } from '../app/send-email';
import type { EmailDeps } from '../app/send-email';
import { evaluatePolicy } from '../app/evaluate-policy';
import type { PolicyDeps } from '../app/evaluate-policy';
import { advanceRecord } from '../app/advance-record';
import type { ExhaustedHandler, Processor } from './worker';
import { EMAIL_OUTCOME_NAMES } from '../app/record-events';

/**
 * Job processors: each validates its payload (ids only), loads current state through one
 * use-case and lets AppError.retryable decide between a retry and giving up.
 */

/** The payload of every job about one record (extra fields are the job's own). */
export const RecordPayload = z.object({ record_id: z.uuid() }).loose();
const UnschedulePayload = z.object({ record_id: z.uuid(), late: z.boolean().optional() });
const EmailPayload = z.object({ record_id: z.uuid(), outcome: z.enum(EMAIL_OUTCOME_NAMES) });

export function parsePayload<T>(schema: z.ZodType<T>, payload: unknown, topic: string): T {
  const r = schema.safeParse(payload);
  if (!r.success)
    throw new AppError('validation_failed', `${topic}: malformed job payload (${r.error.issues.map((i) => i.path.join('.') + ' ' + i.message).join('; ')})`, {
      retryable: false,
    });
  return r.data;
}

export interface ProcessorDeps {
  readonly apply: ApplyDeps;
  readonly email: EmailDeps;
  readonly policy: PolicyDeps;
  /** Further processors provided by integrations (Zendesk, policy, Slack). */
  readonly extra?: Partial<Record<Topic, Processor>>;
}

export function buildProcessors(deps: ProcessorDeps): Partial<Record<Topic, Processor>> {
  const advance: Processor = async (payload, ctx) => {
    const { record_id } = parsePayload(RecordPayload, payload, TOPICS.recordAdvance);
    const outcome = await advanceRecord({ ...deps.policy, billing: deps.apply.billing }, record_id, { outboxKey: ctx.outboxKey });
    ctx.logger.info({ record_id, ...outcome }, 'record advanced');
    return 'completed';
  };
  return {
    [TOPICS.recordAdvance]: advance,
    [TOPICS.policyEvaluate]: advance,
    [TOPICS.billingApply]: async (payload, ctx) => {
      const { record_id } = parsePayload(RecordPayload, payload, TOPICS.billingApply);
      const outcome = await applyRecord(deps.apply, record_id, { outboxKey: ctx.outboxKey });
      ctx.logger.info({ record_id, outcome }, 'billing job done');
      // A local provider applies in one transaction, which completes the row; a remote one's steps are several.
      return deps.apply.billing.local ? 'completed' : undefined;
    },
    [TOPICS.billingUnschedule]: async (payload, ctx) => {
      const { record_id, late } = parsePayload(UnschedulePayload, payload, TOPICS.billingUnschedule);
      const outcome = await unscheduleRecord(deps.apply, record_id, { late: late === true });
      ctx.logger.info({ record_id, outcome }, 'billing unschedule done');
    },
    [TOPICS.emailSend]: async (payload, ctx) => {
      const { record_id, outcome } = parsePayload(EmailPayload, payload, TOPICS.emailSend);
      await sendCustomerEmail(deps.email, record_id, outcome, { outboxKey: ctx.outboxKey });
      return 'completed';
    },
    ...deps.extra,
  };
}

/**
 * What happens when a job is given up: a billing job fails its record (which alerts the team
 * through the outbox); an email or an unschedule that cannot be done alerts the team directly.
 * A `record.advance` that kept failing falls back to the policy step alone (`policy`), so an
 * approved record's billing then fails on its own job, with its record failed and the team told.
 */
export function buildExhaustedHandler(
  deps: Pick<ApplyDeps, 'store' | 'clock'>,
  alert?: (recordId: string, problem: string) => Promise<void>,
  policy?: PolicyDeps,
): ExhaustedHandler {
  return async (topic, payload, error, ctx) => {
    const recordId = RecordPayload.safeParse(payload).data?.record_id;
    ctx.logger.error({ topic, record_id: recordId, err: { message: error.message } }, 'job given up');
    if (!recordId) return;
    if (topic === TOPICS.recordAdvance || topic === TOPICS.policyEvaluate) {
      // When the policy step itself is what fails, the record stays submitted and the watchdog reports it.
      if (policy)
        await evaluatePolicy(policy, recordId).catch((err: Error) =>
          ctx.logger.error({ record_id: recordId, err: { message: err.message } }, 'policy step alone failed too'),
        );
      await failRecord(deps, recordId, error.message);
    } else if (topic === TOPICS.billingApply) await failRecord(deps, recordId, error.message);
    else if (topic === TOPICS.emailSend && alert) await alert(recordId, `the customer email could not be sent (${error.message})`);
    else if (topic === TOPICS.billingUnschedule && alert) {
      await alert(
        recordId,
        `the record was cancelled, but the change scheduled at the billing provider could not be undone (${error.message}); undo it by hand`,
      );
    }
  };
}
