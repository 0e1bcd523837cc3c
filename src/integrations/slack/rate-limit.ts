import { ErrorCode } from '@slack/web-api';
import { RateLimitedError } from '../../records/errors';

/**
 * The Slack Web API's 429 as the queue's delay. The job path's WebClient rejects rate-limited calls
 * (`rejectRateLimitedCalls`) instead of sleeping inside a job; this turns that rejection, with its
 * Retry-After, into the RateLimitedError the worker waits out without spending an attempt.
 */
export function slackRateLimited(err: unknown): RateLimitedError | null {
  const e = err as { code?: unknown; retryAfter?: unknown; message?: unknown } | null;
  if (!e || e.code !== ErrorCode.RateLimitedError) return null;
  const seconds = typeof e.retryAfter === 'number' && Number.isFinite(e.retryAfter) && e.retryAfter > 0 ? e.retryAfter : 1;
  return new RateLimitedError('slack', seconds * 1000, `Slack rate limited the call (retry after ${seconds} s)`, err);
}
