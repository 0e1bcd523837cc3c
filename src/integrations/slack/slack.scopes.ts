import { WebClient } from '@slack/web-api';
import { ConfigError } from '../../config';
import type { SlackBotIdentity } from './slack.app';

/**
 * The bot token's scopes, checked once at start-up. Slack reports a token's scopes in the
 * `x-oauth-scopes` header of every Web API response (the client exposes it as
 * `response_metadata.scopes`); auth.test is the cheapest call that carries it, and its answer
 * is also the bot identity Bolt needs, so that one call serves both.
 */

/** What each side of the service calls Slack for. */
export function requiredSlackScopes(opts: { web: boolean; worker: boolean; approverGroups: readonly string[] }): string[] {
  const scopes = new Set<string>();
  if (opts.worker) scopes.add('chat:write');
  if (opts.web) {
    // Ephemeral refusals; users.info for the clicker, and their email for the four-eyes check.
    for (const s of ['chat:write', 'users:read', 'users:read.email']) scopes.add(s);
    if (opts.approverGroups.length) scopes.add('usergroups:read');
  }
  return [...scopes];
}

/**
 * Calls auth.test once (no retries, a short timeout: start-up must not hang on Slack). Throws a
 * ConfigError when Slack refuses the token, does not report its scopes, or a required scope is
 * missing; any other error (Slack unreachable) is thrown as it is.
 */
export async function checkSlackToken(
  opts: { token: string; apiUrl?: string | undefined; timeoutMs?: number },
  required: readonly string[],
): Promise<SlackBotIdentity> {
  const client = new WebClient(opts.token, {
    ...(opts.apiUrl ? { slackApiUrl: opts.apiUrl } : {}),
    retryConfig: { retries: 0 },
    timeout: opts.timeoutMs ?? 5000,
    rejectRateLimitedCalls: true,
  });
  let res;
  try {
    res = await client.auth.test();
  } catch (err) {
    const code = (err as { data?: { error?: string } }).data?.error;
    if (code && ['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired', 'no_permission'].includes(code)) {
      throw new ConfigError([`SLACK_BOT_TOKEN: Slack refused the token (${code})`]);
    }
    throw err;
  }
  const scopes = res.response_metadata?.scopes;
  if (!scopes)
    throw new ConfigError([
      "SLACK_BOT_TOKEN: Slack did not report the token's scopes (no x-oauth-scopes header), so the approval checks cannot be trusted; use a bot token (xoxb-…)",
    ]);
  const missing = required.filter((s) => !scopes.includes(s));
  if (missing.length) {
    throw new ConfigError([
      `SLACK_BOT_TOKEN: the token lacks the scope(s) ${missing.join(', ')}, which approvals need ` +
        '(users:read.email tells an approver from the agent who asked; usergroups:read checks approver groups). ' +
        'Add them under OAuth & Permissions and reinstall the app (config/slack-app-manifest.yaml lists them all).',
    ]);
  }
  return { botId: res.bot_id ?? '', botUserId: res.user_id ?? '' };
}
