import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError } from '../records/errors';
import type { ErrorCode, Problem } from '../records/errors';
import { problemsFromIssues } from '../records/problems';

/** The one place error codes become HTTP statuses. */
const STATUS: Record<ErrorCode, number> = {
  validation_failed: 422,
  not_found: 404,
  conflict: 409,
  illegal_transition: 409,
  forbidden: 403,
  unauthorized: 401,
  bad_signature: 401,
  unsupported_payload: 400,
  catalog_invalid: 500,
  policy_invalid: 500,
  field_map_invalid: 500,
  provider_failed: 502,
  unavailable: 503,
  internal: 500,
};

export const statusFor = (code: ErrorCode): number => STATUS[code];

export interface ErrorBody {
  error: { code: string; message: string; problems?: readonly { field: string; message: string }[] };
}

export const errorBody = (code: string, message: string, problems?: readonly { field: string; message: string }[]): ErrorBody => ({
  error: { code, message, ...(problems && problems.length ? { problems } : {}) },
});

/** PostgreSQL/pool errors that mean "the database is not reachable right now": answer 503 so callers retry. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string; name?: string };
  if (e?.name === 'KnexTimeoutError') return true;
  if (typeof e?.code === 'string' && (/^(08|57P)/.test(e.code) || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(e.code))) return true;
  // node-postgres's own words for a client whose connection broke (a restart, a dropped socket):
  // it refuses further queries with these messages and no SQLSTATE.
  return /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|is not queryable|Client has encountered a connection error|Connection ended unexpectedly/i.test(
    e?.message ?? '',
  );
}

/**
 * PostgreSQL's data exceptions (SQLSTATE class 22: a value out of range, text it cannot store, an
 * invalid representation). They come from the request's own values, nothing was written (the
 * statement failed), and retrying cannot help: the caller must change the value.
 */
export const isDataException = (err: unknown): boolean => {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
};

/**
 * PostgreSQL errors that mean "this attempt lost a race or ran out of time" (deadlock, serialization
 * failure, statement timeout): nothing was written, and the same request will likely succeed again.
 */
export function isTransientDatabaseError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === '40P01' || code === '40001' || isStatementTimeout(err);
}

/** A statement PostgreSQL cancelled for running past statement_timeout. */
export const isStatementTimeout = (err: unknown): boolean => (err as { code?: unknown })?.code === '57014';

/**
 * Failures that say nothing about the deliveries of an intake batch (the database is down, or
 * too slow to finish a statement): the whole batch fails at once instead of one delivery at a time.
 */
export const isIntakeDatabaseFailure = (err: unknown): boolean => isDatabaseUnavailable(err) || isStatementTimeout(err);

/** Seconds a client should wait before retrying a 503; Zendesk only retries a 503 that carries it. */
const RETRY_AFTER_SECONDS = '5';

export const RETRY_AFTER = RETRY_AFTER_SECONDS;

/** Where a route schema refused the request, in the words of the API ("query", not "querystring"). */
const CONTEXT_WORDS: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'headers' };

/**
 * Problems from a route schema's refusal (fastify-type-provider-zod keeps each zod issue, its
 * path joined with `/`): the same fields and words a use-case's own zod parse gives.
 */
function schemaProblems(err: {
  validation: readonly { keyword: string; instancePath: string; message?: string; params: Record<string, unknown> }[];
}): Problem[] {
  return problemsFromIssues(
    err.validation.map((v) => ({
      code: v.keyword,
      path: v.instancePath
        .split('/')
        .slice(1)
        .map((s) => (/^\d+$/.test(s) ? Number(s) : s)),
      message: v.message ?? 'is invalid',
      ...(Array.isArray(v.params.keys) ? { keys: v.params.keys as string[] } : {}),
    })),
  );
}

export function errorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): void {
  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = CONTEXT_WORDS[(err as FastifyError).validationContext ?? 'body'] ?? 'request';
    void reply.status(statusFor('validation_failed')).send(errorBody('validation_failed', `Invalid ${where}`, schemaProblems(err)));
    return;
  }
  if (err instanceof AppError) {
    const status = statusFor(err.code);
    if (status >= 500) req.log.error({ err }, 'request failed');
    if (status === 503) void reply.header('retry-after', RETRY_AFTER_SECONDS);
    void reply.status(status).send(errorBody(err.code, err.message, err.problems));
    return;
  }
  if (isTransientDatabaseError(err)) {
    req.log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'transient database error');
    void reply
      .status(503)
      .header('retry-after', RETRY_AFTER_SECONDS)
      .send(errorBody('unavailable', 'The request collided with another or ran out of time; retry shortly'));
    return;
  }
  if (isDatabaseUnavailable(err)) {
    req.log.error({ err }, 'database unavailable');
    void reply.status(503).header('retry-after', RETRY_AFTER_SECONDS).send(errorBody('unavailable', 'The database is unavailable; retry shortly'));
    return;
  }
  if (isDataException(err)) {
    // The message may quote the value; it goes back to its sender only, never to the log.
    req.log.warn({ code: (err as { code?: string }).code }, 'a value in the request cannot be stored');
    void reply.status(422).send(errorBody('validation_failed', `A value in the request cannot be stored: ${(err as Error).message}`));
    return;
  }
  const fe = err as FastifyError;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    // Fastify's own refusals: malformed JSON, body too large, unsupported media type, prototype poisoning.
    void reply.status(fe.statusCode).send(errorBody(fe.code ?? 'bad_request', fe.message));
    return;
  }
  req.log.error({ err }, 'unhandled error');
  void reply.status(500).send(errorBody('internal', 'Internal error; it has been logged'));
}
