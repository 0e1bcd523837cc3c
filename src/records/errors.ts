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
