import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../records/errors';
import type { ErrorCode } from '../records/errors';

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
  return /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect/i.test(e?.message ?? '');
}

export function errorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof AppError) {
    const status = statusFor(err.code);
    if (status >= 500) req.log.error({ err }, 'request failed');
    void reply.status(status).send(errorBody(err.code, err.message, err.problems));
    return;
  }
  if (isDatabaseUnavailable(err)) {
    req.log.error({ err }, 'database unavailable');
    void reply.status(503).header('retry-after', '5').send(errorBody('unavailable', 'The database is unavailable; retry shortly'));
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
