/**
 * One error type for the whole service. `code` is stable and machine-readable; the message says
 * what is wrong and how to fix it; HTTP and CLI map codes to statuses/exit codes in one place.
 */
export type ErrorCode =
  | 'validation_failed'
  | 'not_found'
  | 'conflict'
  | 'illegal_transition'
  | 'forbidden'
  | 'unauthorized'
  | 'bad_signature'
  | 'unsupported_payload'
  | 'catalog_invalid'
  | 'policy_invalid'
  | 'field_map_invalid'
  | 'provider_failed'
  | 'unavailable'
  | 'internal';

export interface Problem {
  /** Dotted path of the offending field, e.g. `details.to_plan`. Empty for whole-request problems. */
  readonly field: string;
  /** Sentence an agent can act on. */
  readonly message: string;
}

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: { cause?: unknown; problems?: readonly Problem[]; retryable?: boolean; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
  }
  get problems(): readonly Problem[] {
    return this.options.problems ?? [];
  }
  get retryable(): boolean {
    return this.options.retryable ?? false;
  }
}

export const validationError = (problems: readonly Problem[], message?: string) =>
  new AppError('validation_failed', message ?? problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join('; '), {
    problems,
  });

/**
 * The helpdesk refused the ticket status of an update (Zendesk will not solve a ticket that has no
 * assignee) and so applied nothing of it. The caller sends the rest again without the status.
 */
export class StatusRefusedError extends AppError {
  constructor(
    readonly status: string,
    /** The helpdesk's reason, in its words. */
    readonly why: string,
    cause?: unknown,
  ) {
    super('provider_failed', `The helpdesk refused to set the ticket to ${status}: ${why}`, { retryable: false, cause, details: { refused_status: status } });
    this.name = 'StatusRefusedError';
  }
}

/**
 * An outside system asked us to slow down (HTTP 429, or a quota used up). Nothing was done; the
 * same call may be made again after `retryAfterMs`. Clients never wait themselves: the job worker
 * turns this into the queue's delay (BullMQ's rate limiter), so no attempt is used up and no
 * connection or transaction is held while waiting.
 */
export class RateLimitedError extends AppError {
  constructor(
    /** Which system: 'zendesk', 'slack', 'stripe', 'billing'. */
    readonly system: string,
    /** How long to wait before the next call (the Retry-After header, or a default backoff). */
    readonly retryAfterMs: number,
    message: string,
    cause?: unknown,
  ) {
    super('provider_failed', message, { retryable: true, cause, details: { retry_after_ms: retryAfterMs } });
    this.name = 'RateLimitedError';
  }
}
