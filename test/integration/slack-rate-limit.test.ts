import { WebClient } from '@slack/web-api';
import type { Knex } from 'knex';
import { SlackNotifier } from '../../src/integrations/slack/slack.notifier';
import { RateLimitedError } from '../../src/records/errors';
import { FakeSlack } from '../helpers/fake-slack';

/**
 * The job path's Slack client never sleeps on a 429 (issue #12: rate limits are the queue's job):
 * the call rejects at once after ONE request, and the notifier hands the Retry-After to the worker
 * as a RateLimitedError, which waits it out on the slack queue without spending an attempt.
 */
const TOKEN = 'xoxb-rate-limit-test';
let slack: FakeSlack;

beforeAll(async () => {
  slack = await FakeSlack.start({ token: TOKEN });
});
afterAll(async () => {
  await slack.close();
});

it('gives a 429 back to the job as a RateLimitedError with Slack’s Retry-After, after one request', async () => {
  // The same options main.ts gives the job path's WebClient.
  const client = new WebClient(TOKEN, { slackApiUrl: slack.url, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
  const notifier = new SlackNotifier(client, null as unknown as Knex, 'C0RATE', () => null);
  slack.failNext('chat.postMessage', { status: 429, retryAfter: 7 });

  const started = Date.now();
  const err = await notifier.remind('call the customer back').then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RateLimitedError);
  expect(err).toMatchObject({ system: 'slack', retryAfterMs: 7000, retryable: true });
  // It did not wait the 7 s itself, and asked Slack once.
  expect(Date.now() - started).toBeLessThan(7000);
  expect(slack.callsOf('chat.postMessage').map((c) => c.status)).toEqual([429]);

  // The next call (the job's, after the queue's wait) goes through.
  await expect(notifier.remind('call the customer back')).resolves.toMatchObject({ ref: expect.any(String) });
});
