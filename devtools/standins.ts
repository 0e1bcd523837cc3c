import { randomBytes } from 'node:crypto';
import { FakeSlack } from './slack.standin';
import { SmtpStandin } from './smtp.standin';
import { ZendeskStandin } from './zendesk.standin';

export interface StandinStack {
  readonly zendesk: ZendeskStandin;
  readonly slack: FakeSlack;
  readonly smtp: SmtpStandin;
  /** Environment that points the service at the stand-ins. */
  readonly env: Record<string, string>;
  readonly secrets: { readonly zendeskWebhook: string; readonly slackSigning: string; readonly slackToken: string };
  close(): Promise<void>;
}

export const APPROVAL_CHANNEL = 'C0LDAPPROVALS';

/** In-process stand-ins for Zendesk, Slack and an SMTP server, for the demo and the tests. */
export async function startStandins(): Promise<StandinStack> {
  const secrets = {
    zendeskWebhook: randomBytes(24).toString('base64'),
    slackSigning: randomBytes(16).toString('hex'),
    slackToken: `xoxb-demo-${randomBytes(6).toString('hex')}`,
  };
  const zendeskToken = randomBytes(12).toString('hex');
  const [zendesk, slack, smtp] = await Promise.all([
    ZendeskStandin.start({ email: 'lifecycle-desk@support.example', token: zendeskToken }),
    FakeSlack.start({ token: secrets.slackToken }),
    SmtpStandin.start(),
  ]);
  return {
    zendesk,
    slack,
    smtp,
    secrets,
    env: {
      // Agent-facing links name the subdomain; the API itself is the stand-in's.
      ZENDESK_SUBDOMAIN: 'lifecycle-demo',
      ZENDESK_API_URL: zendesk.apiUrl,
      ZENDESK_EMAIL: 'lifecycle-desk@support.example',
      ZENDESK_API_TOKEN: zendeskToken,
      ZENDESK_WEBHOOK_SECRET: secrets.zendeskWebhook,
      SLACK_BOT_TOKEN: secrets.slackToken,
      SLACK_SIGNING_SECRET: secrets.slackSigning,
      SLACK_APPROVAL_CHANNEL: APPROVAL_CHANNEL,
      SLACK_API_URL: slack.url,
      SMTP_URL: smtp.url,
      EMAIL_FROM: 'Acme Support <support@acme.example>',
    },
    async close() {
      await Promise.allSettled([zendesk.close(), slack.close(), smtp.close()]);
    },
  };
}
