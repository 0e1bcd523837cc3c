import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../records/errors';

/**
 * The one check every `/api/*` route (records, accounts, reports) runs before anything else. The
 * dashboard sends the same bearer token. Per-caller tokens and roles replace this function alone.
 */

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Bearer-token check in constant time (hashing first makes the lengths equal). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer (.+)$/i.exec(header ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), digest(token));
}

/** An `onRequest` hook refusing requests without the API token (and everything while none is set). */
export function requireApiToken(apiToken: string | undefined) {
  return async (req: FastifyRequest): Promise<void> => {
    if (!apiToken) throw new AppError('unauthorized', 'The API is disabled: set API_TOKEN to enable it');
    if (!bearerMatches(req.headers.authorization, apiToken)) {
      throw new AppError('unauthorized', 'Missing or wrong bearer token: send "Authorization: Bearer <API_TOKEN>"');
    }
  };
}
