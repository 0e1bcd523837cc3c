import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { loadConfig, maskCredentials } from '../src/config';
import type { Config } from '../src/config';
import { AccountSchema } from '../src/records/accounts';
import type { AccountInput } from '../src/records/accounts';
import { formatMoney } from '../src/records/money';
import { createDb, migrateLatest } from '../src/db/connection';
import { KnexTransactionRunner } from '../src/db/store';
import { verifyAudit } from '../src/db/audit.queries';
import { importAccounts } from '../src/app/import-accounts';
import { createLogger } from '../src/observability/logger';
import { billingProvider, startService, systemClock } from '../src/main';
import { reconcile } from '../src/app/reconcile';
import { KnexReconcileSource } from '../src/db/reconcile.queries';
import type { Service } from '../src/main';
import { signZendesk } from '../src/integrations/zendesk/signature';
import { slackInteractionRequest } from './slack.standin';
import { APPROVAL_CHANNEL, startStandins } from './standins';

/**
 * `lifecycle-desk demo`: the real pipeline (PostgreSQL, Redis, HTTP, Bolt, relay, workers,
 * ledger) on sample tickets of every kind, with in-process stand-ins for Zendesk, Slack and an
 * SMTP server. Supervisor clicks are simulated as signed Slack requests. Prints each ticket's
 * journey and ends with `audit verify`.
 */

const DAY = 86_400_000;
const SUPERVISORS = [
  { id: 'U0LDSUP01', email: 'maria.supervisor@acme-support.example', name: 'maria' },
  { id: 'U0LDSUP02', email: 'tom.supervisor@acme-support.example', name: 'tom' },
];

interface SampleTicket {
  readonly id: number;
  readonly title: string;
  /** Custom field values as the trigger renders them (field map ids from config/field-map.example.json). */
  readonly fields: Record<string, string>;
  /** What the supervisors do when asked. */
  readonly decision?: 'approve' | 'reject';
  /** A second delivery after the agent fixes the ticket. */
  readonly fix?: Record<string, string>;
}

/** Custom field ids of config/field-map.example.json, by request field (the tests' trigger fixtures use them too). */
export const EXAMPLE_FIELD_IDS: Readonly<Record<string, string>> = {
  kind: '360001000001',
  subtype: '360001000002',
  account_id: '360001000003',
  reason_code: '360001000004',
  effective: '360001000006',
  to_plan: '360001000008',
  amount: '360001000011',
  currency: '360001000012',
  period_start: '360001000013',
  period_end: '360001000014',
  incident_reference: '360001000016',
  merge_target_account_id: '360001000017',
  suspension_cause: '360001000018',
  review_date: '360001000019',
  fee_waived: '360001000021',
};

function sampleAccounts(now: number): AccountInput[] {
  const term = { term_start: new Date(now - 12 * DAY).toISOString(), term_end: new Date(now + 18 * DAY).toISOString() };
  return [
    {
      id: 'acc_acme',
      name: 'Acme GmbH',
      plan_id: 'growth',
      currency: 'EUR',
      mrr_minor: 9900,
      billing_customer_id: 'cus_acme',
      contacts: ['ops@acme.example'],
      ...term,
    },
    { id: 'acc_kaiju', name: 'Kaiju K.K.', plan_id: 'business', currency: 'JPY', mrr_minor: 45000, contacts: ['admin@kaiju.example'], ...term },
    {
      id: 'acc_bolt',
      name: 'Bolt Ltd',
      plan_id: 'enterprise',
      currency: 'GBP',
      mrr_minor: 86900,
      contacts: ['it@bolt.example'],
      ...term,
      early_termination_fee_minor: 150000,
    },
    { id: 'acc_old', name: 'Old Brand Inc', plan_id: 'starter', currency: 'USD', mrr_minor: 3200, contacts: ['cto@oldbrand.example'], ...term },
    { id: 'acc_new', name: 'New Brand Inc', plan_id: 'business', currency: 'USD', mrr_minor: 32900, contacts: ['cto@newbrand.example'], ...term },
    { id: 'acc_late', name: 'Late Payer SA', plan_id: 'starter', currency: 'EUR', mrr_minor: 2900, contacts: ['finance@latepayer.example'], ...term },
  ];
}

function sampleTickets(now: number): SampleTicket[] {
  const day = (offset: number) => new Date(now + offset * DAY).toISOString().slice(0, 10);
  return [
    {
      id: 5001,
      title: 'Upgrade Acme to Business now',
      fields: { kind: 'lc_upgrade', subtype: 'lc_subscription', account_id: 'acc_acme', reason_code: 'growth', to_plan: 'business', effective: 'lc_now' },
    },
    {
      id: 5002,
      title: 'Downgrade Kaiju to Growth at renewal',
      fields: { kind: 'lc_downgrade', subtype: 'lc_subscription', account_id: 'acc_kaiju', reason_code: 'budget_cut', to_plan: 'growth' },
    },
    {
      id: 5003,
      title: 'Goodwill credit for Kaiju (¥1,500)',
      fields: {
        kind: 'lc_credit',
        subtype: 'lc_goodwill',
        account_id: 'acc_kaiju',
        reason_code: 'late_reply',
        amount: '1500',
        currency: 'JPY',
        period_start: day(-6),
        period_end: day(-5),
      },
    },
    {
      id: 5004,
      title: 'Outage credit for Bolt (£150)',
      decision: 'approve',
      fields: {
        kind: 'lc_credit',
        subtype: 'lc_outage',
        account_id: 'acc_bolt',
        reason_code: 'outage',
        amount: '150',
        currency: 'GBP',
        period_start: day(-8),
        period_end: day(-2),
        incident_reference: 'INC-2291',
      },
    },
    {
      id: 5005,
      title: 'Terminate Bolt, fee waived',
      decision: 'approve',
      fields: { kind: 'lc_termination', subtype: 'lc_customer_initiated', account_id: 'acc_bolt', reason_code: 'switched_to_competitor', fee_waived: 'true' },
    },
    {
      id: 5006,
      title: 'Suspend Late Payer',
      decision: 'approve',
      fields: {
        kind: 'lc_status',
        subtype: 'lc_suspension',
        account_id: 'acc_late',
        reason_code: 'non_payment',
        suspension_cause: 'three unpaid invoices',
        review_date: day(14),
      },
    },
    {
      id: 5007,
      title: 'Merge Old Brand into New Brand',
      decision: 'approve',
      fields: { kind: 'lc_status', subtype: 'lc_merge', account_id: 'acc_old', reason_code: 'rebrand', merge_target_account_id: 'acc_new' },
    },
    {
      id: 5008,
      title: 'Credit request above the period charges',
      decision: 'reject',
      fields: {
        kind: 'lc_credit',
        subtype: 'lc_sla_breach',
        account_id: 'acc_acme',
        reason_code: 'sla_breach',
        amount: '120',
        currency: 'EUR',
        period_start: day(-30),
        period_end: day(-2),
      },
    },
    {
      id: 5009,
      title: 'Downgrade with the target plan missing (agent fixes it)',
      fields: { kind: 'lc_downgrade', subtype: 'lc_subscription', account_id: 'acc_acme', reason_code: 'budget_cut' },
      fix: { kind: 'lc_downgrade', subtype: 'lc_subscription', account_id: 'acc_acme', reason_code: 'budget_cut', to_plan: 'starter' },
    },
    {
      id: 5010,
      title: 'Reactivate an account that is already active',
      fields: { kind: 'lc_status', subtype: 'lc_reactivation', account_id: 'acc_acme', reason_code: 'customer_request' },
    },
  ];
}

function triggerBody(t: SampleTicket, fields: Record<string, string>, updatedAt: Date, requester: string) {
  const rendered: Record<string, string> = Object.fromEntries(Object.values(EXAMPLE_FIELD_IDS).map((id) => [id, '']));
  for (const [k, v] of Object.entries(fields)) rendered[EXAMPLE_FIELD_IDS[k]!] = v;
  return {
    lifecycle_desk: 1,
    ticket: {
      id: String(t.id),
      updated_at: updatedAt.toISOString(),
      tags: 'lifecycle_request',
      subject: t.title,
      requester: { email: requester, name: 'Customer contact' },
      assignee_email: 'alex.agent@acme-support.example',
      fields: rendered,
    },
  };
}

const SETTLED = new Set(['confirmed', 'scheduled', 'rejected', 'draft', 'failed', 'closed', 'cancelled']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface DemoIo {
  readonly out: (line: string) => void;
  readonly env?: Record<string, string | undefined>;
  /** Database the demo recreates on DATABASE_URL's server (default lifecycle_desk_demo). */
  readonly database?: string;
}

async function recreateDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.slice(1));
  u.pathname = '/postgres';
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

/** Runs the demo; resolves to the exit code (0 when the audit trail verifies). */
export async function runDemo(io: DemoIo): Promise<number> {
  const base = loadConfig(io.env);
  const database = `/${io.database ?? 'lifecycle_desk_demo'}`;
  // Created and migrated as the owner; the service then runs as its restricted role, as in production.
  const ownerUrl = new URL(base.migrateDatabaseUrl);
  ownerUrl.pathname = database;
  const dbUrl = new URL(base.databaseUrl);
  dbUrl.pathname = database;
  const step = (n: number, text: string) => io.out(`[${n}/6] ${text}`);

  step(1, `preparing database ${dbUrl.pathname.slice(1)} (recreated) and stand-ins for Zendesk, Slack and SMTP`);
  await recreateDatabase(ownerUrl.toString());
  await migrateLatest(ownerUrl.toString());
  const stack = await startStandins();
  let service: Service | null = null;
  try {
    const config: Config = loadConfig({
      ...io.env,
      ...stack.env,
      DATABASE_URL: dbUrl.toString(),
      PORT: '0',
      HOST: '127.0.0.1',
      QUEUE_PREFIX: `ld-demo-${randomBytes(3).toString('hex')}`,
      LOG_LEVEL: 'silent',
      BILLING_PROVIDER: 'ledger',
      // The demo shows every ticket's notes as soon as its record settles, so no sync debounce.
      ZENDESK_SYNC_DELAY_MS: '0',
    });
    const now = Date.now();
    const admin = createDb(config.databaseUrl, { poolMax: 2 });
    const accounts = sampleAccounts(now).map((a) => AccountSchema.parse(a));
    await importAccounts({ store: new KnexTransactionRunner(admin), clock: { now: () => new Date() } }, accounts, { by: 'demo' });
    for (const s of SUPERVISORS) stack.slack.users.set(s.id, { id: s.id, email: s.email, name: s.name });
    stack.zendesk.users.set(1, { id: 1, name: 'Customer contact', email: 'ops@acme.example' });
    const tickets = sampleTickets(now);
    for (const t of tickets) stack.zendesk.addTicket({ id: t.id, subject: t.title, requester_id: 1, tags: ['lifecycle_request'] });
    step(2, `imported ${accounts.length} accounts; starting the service (HTTP + Slack app + relay + workers, ledger billing)`);

    service = await startService(config, { logger: createLogger('silent') });
    const http = `http://127.0.0.1:${(service.http!.server.address() as AddressInfo).port}`;
    const deliver = async (t: SampleTicket, fields: Record<string, string>, at: Date) => {
      const account = accounts.find((a) => a.id === fields.account_id);
      const raw = JSON.stringify(triggerBody(t, fields, at, account?.contacts[0] ?? 'someone@example.com'));
      const ts = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const res = await fetch(`${http}/webhooks/zendesk`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-zendesk-webhook-signature': signZendesk(stack.secrets.zendeskWebhook, ts, raw),
          'x-zendesk-webhook-signature-timestamp': ts,
        },
        body: raw,
      });
      return (await res.json()) as { status: string; record_id?: string; state?: string };
    };

    step(3, `sending ${tickets.length} signed Zendesk webhook deliveries`);
    const recordOf = new Map<number, string>();
    for (const t of tickets) {
      const r = await deliver(t, t.fields, new Date(now));
      if (r.record_id) recordOf.set(t.id, r.record_id);
      io.out(`      ticket #${t.id} → ${r.status}${r.state ? ` (${r.state})` : ''}`);
    }
    await sleep(300);
    for (const t of tickets.filter((x) => x.fix)) {
      const r = await deliver(t, t.fix!, new Date(now + 60_000));
      io.out(`      ticket #${t.id} edited by the agent → ${r.status}${r.state ? ` (${r.state})` : ''}`);
    }

    step(4, 'supervisors decide in Slack (simulated clicks, signed as Slack signs them)');
    const decided = new Set<string>();
    const deadline = Date.now() + 60_000;
    const stateOf = async (id: string) => (await admin('lifecycle_records').where({ id }).first('state'))?.state as string | undefined;
    const click = async (payload: Record<string, unknown>) => {
      const req = slackInteractionRequest(payload, { signingSecret: stack.secrets.slackSigning });
      await fetch(`${http}/slack/events`, { method: 'POST', headers: req.headers, body: req.body });
    };
    for (;;) {
      const states = await Promise.all([...recordOf.values()].map(stateOf));
      if (states.every((s) => s && SETTLED.has(s))) break;
      if (Date.now() > deadline) {
        io.out('      (stopped waiting after 60 s; some records are still moving)');
        break;
      }
      for (const t of tickets) {
        const id = recordOf.get(t.id);
        if (!id || decided.has(id) || (await stateOf(id)) !== 'pending_approval') continue;
        const req = await admin('approval_requests').where({ record_id: id }).first();
        const version = (await admin('lifecycle_records').where({ id }).first('version')).version as number;
        if (!req?.messages.length) continue;
        const ts = req.messages[0].ts as string;
        const value = JSON.stringify({ record_id: id, version });
        const base = {
          team: { id: 'T0DEMO' },
          api_app_id: 'A0DEMO',
          channel: { id: APPROVAL_CHANNEL, name: 'approvals' },
          message: { ts, type: 'message' },
          container: { type: 'message', message_ts: ts, channel_id: APPROVAL_CHANNEL },
        };
        decided.add(id);
        if (t.decision === 'reject') {
          const sup = SUPERVISORS[0]!;
          const meta = JSON.stringify({ record_id: id, version, channel: APPROVAL_CHANNEL, message_ts: ts });
          await click({
            ...base,
            type: 'view_submission',
            user: { id: sup.id, name: sup.name },
            view: {
              id: 'V0DEMO',
              callback_id: 'approval_reject_modal',
              private_metadata: meta,
              state: {
                values: {
                  reason: {
                    reason_input: {
                      type: 'plain_text_input',
                      value: 'The credit is larger than what the SLA grants for this period; please offer a smaller goodwill credit.',
                    },
                  },
                },
              },
            },
          });
          io.out(`      #${t.id}: <@${sup.name}> rejects with a reason`);
        } else {
          for (const sup of SUPERVISORS.slice(0, req.approvals_required)) {
            await click({
              ...base,
              type: 'block_actions',
              user: { id: sup.id, name: sup.name },
              trigger_id: `trig-${sup.id}`,
              actions: [{ type: 'button', action_id: 'approval_approve', block_id: 'approval_actions', value, action_ts: '1' }],
            });
            io.out(`      #${t.id}: <@${sup.name}> approves (${req.rule}, ${req.approvals_required} approver${req.approvals_required > 1 ? 's' : ''} needed)`);
          }
        }
      }
      await sleep(100);
    }

    step(5, 'journeys');
    for (const t of tickets) {
      const id = recordOf.get(t.id);
      io.out('');
      io.out(`  Ticket #${t.id}  ${t.title}`);
      if (!id) {
        io.out('    no record');
        continue;
      }
      const r = await admin('lifecycle_records').where({ id }).first();
      // The record's own chain (a merge also writes to the target account's chain).
      const events = await admin('audit_events').where({ record_id: id, account_id: r.account_id }).orderBy('seq');
      const path = [
        'created',
        ...events.filter((e: { type: string }) => e.type.startsWith('record.') && e.type !== 'record.created').map((e: { data: { to?: string } }) => e.data.to),
      ];
      const firstState = (events[0]?.data as { state?: string } | undefined)?.state ?? '';
      io.out(`    record   ${id}  ${r.kind}/${r.subtype}  account ${r.account_id}`);
      io.out(`    states   ${[firstState, ...path.slice(1)].join(' → ')}`);
      if (r.problems.length) io.out(`    problems ${r.problems.map((p: { field: string; message: string }) => `${p.field}: ${p.message}`).join('; ')}`);
      if (r.risk_flags.length) io.out(`    risk     ${r.risk_flags.join(', ')}`);
      const req = await admin('approval_requests').where({ record_id: id }).first();
      if (req) {
        const decisions = await admin('approval_decisions').where({ record_id: id }).orderBy('id');
        io.out(
          `    slack    approval posted (rule "${req.rule}", ${req.approvals_required} needed); ${decisions.map((d: { approver_id: string; decision: string }) => `${d.decision} by ${d.approver_id}`).join(', ') || 'no decision yet'}; message updated ${stack.slack.callsOf('chat.update').filter((c) => req.messages.some((m: { ts: string }) => m.ts === c.args.ts)).length}×`,
        );
      } else if (r.state !== 'draft') {
        io.out('    slack    auto-approved by policy (no approval needed)');
      }
      const tx = await admin('ledger_transactions').where({ record_id: id }).first();
      if (tx) {
        const legs = await admin('ledger_entries').where({ transaction_id: tx.id });
        const amount = r.amount_minor === null ? 'no money' : formatMoney({ amount_minor: Number(r.amount_minor), currency: r.currency });
        io.out(`    billing  ledger ${tx.id.slice(0, 8)}… ${amount} (${legs.length} balanced legs)`);
      } else if (r.state === 'scheduled') {
        io.out(`    billing  scheduled for ${new Date(r.effective_at).toISOString().slice(0, 10)} (delayed job)`);
      }
      const mails = stack.smtp.messages.filter((m) => (m.parsed.messageId ?? '').startsWith(`<${id}.`));
      for (const m of mails) io.out(`    email    to ${m.envelope.to.join(', ')}: "${m.parsed.subject}"`);
      const zt = stack.zendesk.tickets.get(t.id);
      if (zt)
        io.out(`    zendesk  ${zt.comments.length} internal note(s); tags ${zt.tags.filter((x) => x.startsWith('lifecycle_')).join(' ')}; status ${zt.status}`);
    }

    step(6, 'audit verify and reconcile');
    const v = await verifyAudit(admin);
    io.out(
      v.broken
        ? `audit trail BROKEN at event ${v.broken.event_id}: ${v.broken.problem}`
        : `audit trail intact: ${v.events} events in ${v.accounts} account chains verified`,
    );
    const billing = await billingProvider(config, admin);
    const report = await reconcile({ source: new KnexReconcileSource(admin), billing, clock: systemClock });
    io.out(
      `reconcile: ${report.differences.length} difference(s) between the accounts table, the ledger and ${report.provider} billing across ${report.checkedAccounts} accounts`,
    );
    for (const d of report.differences) io.out(`  ${d.account_id} ${d.field}: ${d.message}`);
    io.out(`\nThe demo database is kept for a look around: DATABASE_URL=${maskCredentials(dbUrl.toString())}`);
    await admin.destroy();
    return v.broken || report.differences.length ? 1 : 0;
  } finally {
    await service?.stop();
    await stack.close();
  }
}
