import { App, HTTPModuleFunctions, HTTPReceiver, LogLevel } from '@slack/bolt';
import type { Logger as BoltLogger } from '@slack/bolt';
import type { BlockAction, ButtonAction, ViewSubmitAction } from '@slack/bolt';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WebClient } from '@slack/web-api';
import type { Logger } from '../../observability/logger';
import { decideApproval } from '../../app/decide-approval';
import type { ApproverDirectory, DecisionOutcome } from '../../app/decide-approval';
import type { AppDeps } from '../../app/deps';
import { lookupRecords, pendingApprovalItems } from '../../app/record-queries';
import type { RecordQuerySource } from '../../app/record-queries';
import { isDatabaseUnavailable } from '../../http/errors';
import type { BatchDecisionInput, BatchDecisionOutcome } from '../../app/incidents';
import {
  ACTION_INCIDENT_APPROVE_ALL,
  ACTION_INCIDENT_APPROVE_UNFLAGGED,
  ACTION_INCIDENT_REJECT,
  INCIDENT_REASON_ACTION_ID,
  INCIDENT_REASON_BLOCK_ID,
  INCIDENT_REJECT_MODAL_CALLBACK_ID,
  incidentRejectModal,
  parseIncidentButtonValue,
  parseIncidentRejectMeta,
} from './incident.blocks';
import { SLACK_MAX_BODY_BYTES, slackGate } from './slack.http';
import { checkPartialAmount } from '../../records/partial-approval';
import { DisputeInputSchema } from '../../records/disputes';
import type { DisputeDocument } from '../../records/disputes';
import { AppError } from '../../records/errors';
import { disputeRecord, resolveRecord, slackSupervisorRefusal } from '../../app/dispute-record';
import {
  ACTION_DISPUTE_RESOLVE,
  DISPUTE_MODAL_CALLBACK_ID,
  DOCUMENTS_ACTION_ID,
  DOCUMENTS_BLOCK_ID,
  OUTCOME_ACTION_ID,
  OUTCOME_BLOCK_ID,
  RESOLVE_MODAL_CALLBACK_ID,
  disputeModal,
  resolveModal,
} from './blocks';
import type { SlackRoles } from './slack.roles';
import { can } from '../../records/access';
import { ACCESS_CHAIN } from '../../app/api-tokens';
import {
  ACTION_APPROVE,
  ACTION_APPROVE_PARTIAL,
  ACTION_REJECT,
  PARTIAL_AMOUNT_ACTION_ID,
  PARTIAL_AMOUNT_BLOCK_ID,
  PARTIAL_MODAL_CALLBACK_ID,
  partialApprovalModal,
  REJECT_MODAL_CALLBACK_ID,
  REJECT_REASON_ACTION_ID,
  REJECT_REASON_BLOCK_ID,
  accountSummaryBlocks,
  appHomeNoticeView,
  appHomeView,
  parseApprovalButtonValue,
  parseRejectModalMeta,
  rejectReasonModal,
} from './blocks';

export const SLACK_EVENTS_PATH = '/slack/events';

export interface SlackAppOptions {
  readonly botToken: string;
  readonly signingSecret: string;
  /** Socket Mode instead of HTTP when set. */
  readonly appToken?: string | undefined;
  readonly apiUrl?: string | undefined;
  /** The reads the App Home and `/lifecycle` show (app-level queries; `KnexRecordQuerySource`). */
  readonly queries: RecordQuerySource;
  readonly app: Pick<AppDeps, 'store' | 'clock' | 'ids'>;
  readonly directory: ApproverDirectory;
  readonly logger: Logger;
  readonly ticketUrl: (ticketId: string) => string | null;
  /** Slack users' roles (SLACK_ROLES_FILE): what /lifecycle and the App Home may show them. */
  readonly roles: SlackRoles;
  /** Every approver group the policy names (for the App Home "waiting for you" list). */
  readonly approverGroups: readonly string[];
  /** Called after a decision, to drop the record's reminder and escalation jobs. */
  readonly onDecided?: (recordId: string) => Promise<void>;
  /** The bot's identity, when start-up already asked auth.test (then Bolt never asks again). */
  readonly identity?: SlackBotIdentity;
  /** Decides an incident credit batch (Approve all / except flagged / Reject); absent: those buttons answer that they are not set up. */
  readonly decideIncidentBatch?: (input: BatchDecisionInput) => Promise<BatchDecisionOutcome>;
}

export interface SlackBotIdentity {
  readonly botId: string;
  readonly botUserId: string;
}

export interface SlackApp {
  readonly bolt: App;
  /** For the HTTP server: handles POST /slack/events (absent in Socket Mode). */
  readonly requestListener: ((req: IncomingMessage, res: ServerResponse) => void) | null;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Bolt's logger interface over pino, so Bolt's own messages are structured and redacted too. */
function boltLogger(logger: Logger): BoltLogger {
  const l = logger.child({ component: 'slack' });
  let level = LogLevel.INFO;
  return {
    debug: (...m: unknown[]) => l.debug(m.map(String).join(' ')),
    info: (...m: unknown[]) => l.info(m.map(String).join(' ')),
    warn: (...m: unknown[]) => l.warn(m.map(String).join(' ')),
    error: (...m: unknown[]) => l.error(m.map(String).join(' ')),
    setLevel: (v: LogLevel) => void (level = v),
    getLevel: () => level,
    setName: () => undefined,
  };
}

const explain = (o: DecisionOutcome): string | null => (o.status === 'refused' ? o.message : null);

const NOT_RECORDED_DB = 'Your decision did not go through: the database is unavailable right now, so nothing was recorded. Please click again in a minute.';
const NOT_RECORDED =
  'Your decision did not go through because of an internal error, so nothing was recorded. Please try again; if it keeps failing, tell an admin.';

/**
 * The Bolt app: Approve/Reject buttons, the reject-reason modal, the App Home tab and the
 * /lifecycle command. Every listener acknowledges first and works after, so Slack always gets
 * its answer within 3 seconds; decisions go through decideApproval, and message updates through
 * the outbox.
 */
const { defaultProcessEventErrorHandler } = HTTPModuleFunctions;
/** Bolt's default error handler without its own log lines (ours above says more). */
const quiet: BoltLogger = { debug() {}, info() {}, warn() {}, error() {}, setLevel() {}, getLevel: () => LogLevel.ERROR, setName() {} };

export function createSlackApp(o: SlackAppOptions): SlackApp {
  const logger = boltLogger(o.logger);
  const receiver = o.appToken
    ? undefined
    : new HTTPReceiver({
        signingSecret: o.signingSecret,
        endpoints: SLACK_EVENTS_PATH,
        processBeforeResponse: false,
        logger,
        unhandledRequestTimeoutMillis: 2500,
        bodyLimit: SLACK_MAX_BODY_BYTES,
        // Bolt's own handler logs only "an unhandled error occurred" and keeps the cause at debug
        // level; whoever is on call needs the cause. The answer stays Bolt's (500, or 401 when
        // authorisation failed): the gate in front has already refused every malformed body.
        processEventErrorHandler: async (args) => {
          o.logger.error({ err: { message: (args.error as Error)?.message ?? String(args.error) } }, 'slack request failed inside Bolt');
          return defaultProcessEventErrorHandler({ ...args, logger: quiet });
        },
      });
  const clientOptions = { ...(o.apiUrl ? { slackApiUrl: o.apiUrl } : {}), retryConfig: { retries: 3, factor: 2, minTimeout: 500, maxTimeout: 5000 } };
  // Bolt given only a token asks auth.test on every incoming request (with token verification
  // off it never keeps the answer). The bot's identity does not change while we run: ask once,
  // or not at all when start-up already did, and ask again only after a failure.
  const identityClient = new WebClient(o.botToken, clientOptions);
  let identity: Promise<SlackBotIdentity> | null = o.identity ? Promise.resolve(o.identity) : null;
  const authorize = async () => {
    identity ??= identityClient.auth.test().then(
      (r) => ({ botId: r.bot_id ?? '', botUserId: r.user_id ?? '' }),
      (err: unknown) => {
        identity = null;
        throw err;
      },
    );
    return { botToken: o.botToken, ...(await identity) };
  };
  const bolt = new App({
    authorize,
    logger,
    ignoreSelf: false,
    clientOptions,
    ...(receiver ? { receiver } : { socketMode: true, appToken: o.appToken, signingSecret: o.signingSecret }),
  });

  /**
   * Decides a click and tells the clicker (ephemeral) when it did not count: a refusal, or a
   * failure. A failed decision rolled back whole, so the clicker can simply click again.
   */
  const decide = async (input: Parameters<typeof decideApproval>[1], tell: (text: string) => Promise<unknown>) => {
    let why: string | null;
    try {
      const outcome = await decideApproval({ store: o.app.store, clock: o.app.clock, directory: o.directory }, input);
      if (outcome.status === 'decided')
        await o.onDecided?.(input.recordId).catch((err: Error) => o.logger.warn({ err: { message: err.message } }, 'could not cancel reminders'));
      why = explain(outcome);
    } catch (err) {
      const unavailable = isDatabaseUnavailable(err);
      o.logger.error(
        { err: { message: (err as Error).message, code: (err as { code?: string }).code }, record_id: input.recordId },
        'approval decision failed',
      );
      why = unavailable ? NOT_RECORDED_DB : NOT_RECORDED;
    }
    if (why) await tell(why).catch((err: Error) => o.logger.warn({ err: { message: err.message } }, 'could not tell the clicker'));
  };

  bolt.action<BlockAction<ButtonAction>>(ACTION_APPROVE, async ({ ack, body, action, client }) => {
    await ack();
    const value = parseApprovalButtonValue(action.value);
    const channel = body.channel?.id;
    if (!value) return;
    await decide(
      { recordId: value.record_id, version: value.version, decision: 'approve', approverId: body.user.id, approverName: body.user.name },
      async (text) => (channel ? client.chat.postEphemeral({ channel, user: body.user.id, text }) : undefined),
    );
  });

  bolt.action<BlockAction<ButtonAction>>(ACTION_REJECT, async ({ ack, body, action, client }) => {
    await ack();
    const value = parseApprovalButtonValue(action.value);
    if (!value || !body.channel?.id || !body.message?.ts) return;
    // The trigger id expires 3 seconds after the click: open the modal before anything else.
    await client.views.open({
      trigger_id: body.trigger_id,
      view: rejectReasonModal({ record_id: value.record_id, version: value.version, channel: body.channel.id, message_ts: body.message.ts }),
    });
  });

  bolt.view<ViewSubmitAction>(REJECT_MODAL_CALLBACK_ID, async ({ ack, view, body, client }) => {
    const reason = view.state.values[REJECT_REASON_BLOCK_ID]?.[REJECT_REASON_ACTION_ID]?.value?.trim() ?? '';
    if (!reason) {
      await ack({ response_action: 'errors', errors: { [REJECT_REASON_BLOCK_ID]: 'A reason is required: the agent and the customer will see it.' } });
      return;
    }
    await ack();
    const meta = parseRejectModalMeta(view.private_metadata);
    if (!meta) return;
    await decide(
      { recordId: meta.record_id, version: meta.version, decision: 'reject', approverId: body.user.id, approverName: body.user.name, reason },
      (text) => client.chat.postEphemeral({ channel: meta.channel, user: body.user.id, text }),
    );
  });

  bolt.action<BlockAction<ButtonAction>>(ACTION_APPROVE_PARTIAL, async ({ ack, body, action, client }) => {
    await ack();
    const value = parseApprovalButtonValue(action.value);
    if (!value || !body.channel?.id || !body.message?.ts) return;
    const record = await o.app.store.transaction((uow) => uow.records.get(value.record_id));
    if (!record) return;
    await client.views.open({
      trigger_id: body.trigger_id,
      view: partialApprovalModal({ record_id: value.record_id, version: value.version, channel: body.channel.id, message_ts: body.message.ts }, record),
    });
  });

  bolt.view<ViewSubmitAction>(PARTIAL_MODAL_CALLBACK_ID, async ({ ack, view, body, client }) => {
    const values = view.state.values;
    const amount = values[PARTIAL_AMOUNT_BLOCK_ID]?.[PARTIAL_AMOUNT_ACTION_ID]?.value?.trim() ?? '';
    const reason = values[REJECT_REASON_BLOCK_ID]?.[REJECT_REASON_ACTION_ID]?.value?.trim() ?? '';
    const meta = parseRejectModalMeta(view.private_metadata);
    const errors: Record<string, string> = {};
    if (!reason) errors[REJECT_REASON_BLOCK_ID] = 'A reason is required: the agent sees it, and it stays in the audit trail.';
    if (!amount) errors[PARTIAL_AMOUNT_BLOCK_ID] = 'Enter the amount you approve.';
    if (meta && amount && reason) {
      // Checked before answering, so a wrong amount is shown in the modal; decideApproval checks it again under the lock.
      const record = await o.app.store.transaction((uow) => uow.records.get(meta.record_id));
      const check = record ? checkPartialAmount(record, amount, reason) : null;
      if (check && !check.ok) errors[check.code === 'reason' ? REJECT_REASON_BLOCK_ID : PARTIAL_AMOUNT_BLOCK_ID] = check.message;
    }
    if (Object.keys(errors).length) {
      await ack({ response_action: 'errors', errors });
      return;
    }
    await ack();
    if (!meta) return;
    await decide(
      { recordId: meta.record_id, version: meta.version, decision: 'approve', approverId: body.user.id, approverName: body.user.name, reason, lowerTo: amount },
      (text) => client.chat.postEphemeral({ channel: meta.channel, user: body.user.id, text }),
    );
  });

  /**
   * Dispute or resolve from the finished approval message (supervisors only). The modal follows
   * the record's state when the button is clicked; the submission checks who submits it, then
   * runs the same use-case as the API, and tells the clicker (ephemeral) when it did not go through.
   */
  bolt.action<BlockAction<ButtonAction>>(ACTION_DISPUTE_RESOLVE, async ({ ack, body, action, client }) => {
    await ack();
    const value = parseApprovalButtonValue(action.value);
    const channel = body.channel?.id;
    if (!value || !channel || !body.message?.ts) return;
    const record = await o.app.store.transaction((uow) => uow.records.get(value.record_id));
    if (!record) return;
    const meta = { record_id: record.id, version: record.version, channel, message_ts: body.message.ts };
    if (record.state === 'applied' || record.state === 'confirmed') {
      await client.views.open({ trigger_id: body.trigger_id, view: disputeModal(meta, record) });
    } else if (record.state === 'disputed') {
      await client.views.open({ trigger_id: body.trigger_id, view: resolveModal(meta, record) });
    } else {
      await client.chat.postEphemeral({
        channel,
        user: body.user.id,
        text: `This record is ${record.state}: only a change that was applied can be disputed, and only a disputed one resolved.`,
      });
    }
  });

  const asSupervisor = async (
    kind: 'dispute' | 'resolve',
    meta: { record_id: string; channel: string },
    user: { id: string; name?: string },
    client: { chat: { postEphemeral(a: { channel: string; user: string; text: string }): Promise<unknown> } },
    run: (actor: { role: 'supervisor'; id: string; name?: string }) => Promise<unknown>,
  ) => {
    const tell = (text: string) =>
      client.chat
        .postEphemeral({ channel: meta.channel, user: user.id, text })
        .catch((err: Error) => o.logger.warn({ err: { message: err.message } }, 'could not tell the clicker'));
    try {
      const refusal = await slackSupervisorRefusal({ store: o.app.store, directory: o.directory }, meta.record_id, user.id);
      if (refusal) return void (await tell(refusal));
      await run({ role: 'supervisor', id: user.id, ...(user.name ? { name: user.name.slice(0, 200) } : {}) });
    } catch (err) {
      o.logger.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code }, record_id: meta.record_id }, `slack ${kind} failed`);
      await tell(
        err instanceof AppError && err.code !== 'internal'
          ? `Nothing was recorded: ${err.message}`
          : isDatabaseUnavailable(err)
            ? NOT_RECORDED_DB
            : NOT_RECORDED,
      );
    }
  };

  bolt.view<ViewSubmitAction>(DISPUTE_MODAL_CALLBACK_ID, async ({ ack, view, body, client }) => {
    const reason = view.state.values[REJECT_REASON_BLOCK_ID]?.[REJECT_REASON_ACTION_ID]?.value?.trim() ?? '';
    const lines = (view.state.values[DOCUMENTS_BLOCK_ID]?.[DOCUMENTS_ACTION_ID]?.value ?? '')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter(Boolean);
    const documents: DisputeDocument[] = lines.map((l) => (/^\d+$/.test(l) ? { zendesk_attachment_id: l } : { url: l }));
    // Checked before answering, so a bad reference is shown in the modal.
    const parsed = DisputeInputSchema.safeParse({ reason, documents });
    if (!parsed.success) {
      const errors: Record<string, string> = {};
      for (const i of parsed.error.issues) {
        const block = i.path[0] === 'documents' ? DOCUMENTS_BLOCK_ID : REJECT_REASON_BLOCK_ID;
        const line = i.path[0] === 'documents' && typeof i.path[1] === 'number' ? `line ${i.path[1] + 1}: ` : '';
        errors[block] ??= `${line}${i.message}`;
      }
      await ack({ response_action: 'errors', errors });
      return;
    }
    await ack();
    const meta = parseRejectModalMeta(view.private_metadata);
    if (!meta) return;
    await asSupervisor('dispute', meta, body.user, client, (actor) =>
      disputeRecord(o.app, { recordId: meta.record_id, actor, body: { reason, documents: parsed.data.documents }, expectedVersion: meta.version }),
    );
  });

  bolt.view<ViewSubmitAction>(RESOLVE_MODAL_CALLBACK_ID, async ({ ack, view, body, client }) => {
    const reason = view.state.values[REJECT_REASON_BLOCK_ID]?.[REJECT_REASON_ACTION_ID]?.value?.trim() ?? '';
    const outcome = view.state.values[OUTCOME_BLOCK_ID]?.[OUTCOME_ACTION_ID]?.selected_option?.value ?? '';
    const errors: Record<string, string> = {};
    if (!reason) errors[REJECT_REASON_BLOCK_ID] = 'A reason is required: the customer reads it.';
    if (!outcome) errors[OUTCOME_BLOCK_ID] = 'Choose an outcome.';
    if (Object.keys(errors).length) {
      await ack({ response_action: 'errors', errors });
      return;
    }
    await ack();
    const meta = parseRejectModalMeta(view.private_metadata);
    if (!meta) return;
    await asSupervisor('resolve', meta, body.user, client, (actor) =>
      resolveRecord(o.app, { recordId: meta.record_id, actor, body: { reason, outcome }, expectedVersion: meta.version }),
    );
  });

  /** Decides a batch click and tells the clicker (ephemeral) when it did not count; the message itself is refreshed by the outbox job. */
  const decideBatch = async (input: BatchDecisionInput, tell: (text: string) => Promise<unknown>) => {
    let why: string | null;
    try {
      if (!o.decideIncidentBatch) throw new Error('incident batches are not wired');
      const outcome = await o.decideIncidentBatch(input);
      why = outcome.status === 'refused' ? outcome.message : null;
    } catch (err) {
      o.logger.error(
        { err: { message: (err as Error).message, code: (err as { code?: string }).code }, batch_id: input.batchId },
        'incident batch decision failed',
      );
      why = isDatabaseUnavailable(err) ? NOT_RECORDED_DB : NOT_RECORDED;
    }
    if (why) await tell(why).catch((err: Error) => o.logger.warn({ err: { message: err.message } }, 'could not tell the clicker'));
  };

  for (const [actionId, decision] of [
    [ACTION_INCIDENT_APPROVE_ALL, 'approve_all'],
    [ACTION_INCIDENT_APPROVE_UNFLAGGED, 'approve_unflagged'],
  ] as const) {
    bolt.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, client }) => {
      await ack();
      const batchId = parseIncidentButtonValue(action.value);
      const channel = body.channel?.id;
      if (!batchId) return;
      await decideBatch({ batchId, decision, approverId: body.user.id, approverName: body.user.name }, async (text) =>
        channel ? client.chat.postEphemeral({ channel, user: body.user.id, text }) : undefined,
      );
    });
  }

  bolt.action<BlockAction<ButtonAction>>(ACTION_INCIDENT_REJECT, async ({ ack, body, action, client }) => {
    await ack();
    const batchId = parseIncidentButtonValue(action.value);
    if (!batchId || !body.channel?.id) return;
    await client.views.open({ trigger_id: body.trigger_id, view: incidentRejectModal({ batch_id: batchId, channel: body.channel.id }) });
  });

  bolt.view<ViewSubmitAction>(INCIDENT_REJECT_MODAL_CALLBACK_ID, async ({ ack, view, body, client }) => {
    const reason = view.state.values[INCIDENT_REASON_BLOCK_ID]?.[INCIDENT_REASON_ACTION_ID]?.value?.trim() ?? '';
    if (!reason) {
      await ack({ response_action: 'errors', errors: { [INCIDENT_REASON_BLOCK_ID]: 'A reason is required.' } });
      return;
    }
    await ack();
    const meta = parseIncidentRejectMeta(view.private_metadata);
    if (!meta) return;
    await decideBatch({ batchId: meta.batch_id, decision: 'reject', approverId: body.user.id, approverName: body.user.name, reason }, (text) =>
      client.chat.postEphemeral({ channel: meta.channel, user: body.user.id, text }),
    );
  });

  /** A refused Slack request, on the audit trail like the API's and the sidebar's refusals. */
  const auditDenied = async (userId: string, action: 'view_record', role: string | null, query: string) =>
    o.app.store
      .transaction((uow) =>
        uow.audit.append([
          {
            account_id: ACCESS_CHAIN,
            record_id: null,
            type: 'access.denied',
            actor: { role: 'agent', id: `slack:${userId.slice(0, 50)}` },
            occurred_at: o.app.clock.now().toISOString(),
            data: { action, role, via: 'slack', slack_user_id: userId.slice(0, 50), query: query.slice(0, 200) },
          },
        ]),
      )
      .catch((err: Error) => o.logger.warn({ err: { message: err.message } }, 'could not audit a refused Slack request'));

  const ROLE_UNKNOWN =
    'Lifecycle Desk could not check your role with Slack just now (your user groups could not be read), so nothing is shown. Please try again in a minute.';
  const NO_ROLE = 'Your Slack account has no Lifecycle Desk role, so nothing is shown. Ask an admin to add you to one of the user groups of SLACK_ROLES_FILE.';

  bolt.event('app_home_opened', async ({ event, client }) => {
    if (event.tab && event.tab !== 'home') return;
    const who = await o.roles.roleOf(event.user);
    if (!who.known || !who.role) {
      await client.views.publish({ user_id: event.user, view: appHomeNoticeView('Lifecycle Desk', who.known ? NO_ROLE : ROLE_UNKNOWN) });
      return;
    }
    if (!can(who.role, 'approve_record')) {
      const text = `You are signed in as *${who.role}*: approvals are decided by supervisors and admins, so none are listed here. Use \`/lifecycle <account or ticket id>\` to see records.`;
      await client.views.publish({ user_id: event.user, view: appHomeNoticeView('Lifecycle Desk', text) });
      return;
    }
    const groups = (o.approverGroups.length ? await o.directory.groupsOf(event.user, o.approverGroups) : null) ?? [];
    const pending = await pendingApprovalItems(o.queries, event.user, groups, 40);
    const items = pending.map((p) => ({ ...p, ticketUrl: p.record.ticket_id ? o.ticketUrl(p.record.ticket_id) : null }));
    await client.views.publish({ user_id: event.user, view: appHomeView(items) });
  });

  bolt.command('/lifecycle', async ({ ack, command, client }) => {
    await ack();
    const q = command.text.trim();
    let message;
    const who = await o.roles.roleOf(command.user_id);
    if (!who.known) {
      message = { text: ROLE_UNKNOWN };
    } else if (!can(who.role, 'view_record')) {
      await auditDenied(command.user_id, 'view_record', who.role, q);
      message = { text: NO_ROLE };
    } else if (!q) {
      message = { text: 'Usage: /lifecycle <account id or ticket id>' };
    } else {
      const found = await lookupRecords(o.queries, q, 10);
      message = accountSummaryBlocks(found.by === 'account' ? `Account ${q}` : `Ticket ${q}`, found.records);
    }
    await client.chat.postEphemeral({ channel: command.channel_id, user: command.user_id, ...message });
  });

  bolt.error(async (err) => {
    o.logger.error({ err: { message: err.message, code: (err as { code?: string }).code } }, 'slack listener failed');
  });

  return {
    bolt,
    requestListener: receiver ? slackGate({ signingSecret: o.signingSecret, logger: o.logger, next: receiver.requestListener }) : null,
    start: async () => {
      if (!receiver) await bolt.start();
    },
    stop: async () => {
      if (!receiver) await bolt.stop();
    },
  };
}
