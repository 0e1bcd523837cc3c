import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, FrameLocator, Page } from 'playwright-core';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { seedAccounts } from '../helpers/app';
import { startTestService, until, zendeskHeaders } from '../helpers/service';
import type { TestService } from '../helpers/service';
import { slackInteractionRequest } from '../helpers/fake-slack';
import { triggerBody } from '../fixtures/zendesk-trigger';
import { ZafHost, launchChromium } from './zaf-host';
import { packageApp } from '../../zendesk-app/build/package-app';
import type { PackageResult } from '../../zendesk-app/build/package-app';
import { KnexRecordRepository } from '../../src/db/records.repository';
import { STATES } from '../../src/records/kinds';
import type { LifecycleRecord, State } from '../../src/records/kinds';
import { stateWords } from '../../src/app/ticket-view';

/**
 * The packaged Zendesk app in headless Chromium, inside a host page that plays Zendesk (the ZAF
 * postMessage protocol and the request proxy that signs the JWT), against the real service with
 * its workers, PostgreSQL, Redis and the Slack, Zendesk and SMTP stand-ins.
 */

jest.setTimeout(90_000);

const SECRET = 'zaf-browser-secret-0123456789abcdef-0123456789';
const DAY = 86_400_000;
const F = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'config', 'field-map.example.json'), 'utf8')).fields as Record<string, number>;
const field = (name: string) => String(F[name]);

const ANN = { id: 9001, name: 'Ann Agent', email: 'ann.agent@support.example', role: 'agent' as const };
const FRED = { id: 9002, name: 'Fred Finance', email: 'fred@support.example', role: 'agent' as const, custom_role_id: 360000000102 };

let t: TestDb;
let s: TestService;
let pkg: PackageResult;
let host: ZafHost;
let browser: Browser;
const pages: Page[] = [];
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ld-zaf-'));

beforeAll(async () => {
  t = await createTestDb();
  const now = Date.now();
  const term = { term_start: new Date(now - 10 * DAY).toISOString(), term_end: new Date(now + 20 * DAY).toISOString(), contacts: ['ops@acme.example'] };
  await seedAccounts(
    t.db,
    buildAccount({ id: 'acc_acme', name: 'Acme GmbH', mrr_minor: 9900, ...term }),
    buildAccount({ id: 'acc_big', name: 'Big Corp', plan_id: 'enterprise', mrr_minor: 99_900, ...term, contacts: ['ops@big.example'] }),
    // The failed record finance retries: billing then changes this account, and no other test looks at it.
    buildAccount({ id: 'acc_retry', name: 'Retry Ltd', mrr_minor: 9900, ...term }),
  );
  s = await startTestService(t, { env: { ZAF_SHARED_SECRET: SECRET } });
  for (const u of [ANN, FRED]) s.stack.zendesk.users.set(u.id, u);
  s.stack.slack.users.set('U0LDSUP01', { id: 'U0LDSUP01', email: 'sup1@acme.example', name: 'sup1' });
  pkg = await packageApp({ domains: ['127.0.0.1'], outDir });
  host = await ZafHost.start({ appDir: pkg.stageDir, settings: { service_url: s.base, shared_secret: SECRET, poll_seconds: 2 }, subdomain: 'lifecycle-demo' });
  for (const u of [ANN, FRED]) host.users.set(u.id, u);
  browser = await launchChromium();
});
afterAll(async () => {
  await Promise.allSettled(pages.map((p) => p.close()));
  await browser?.close();
  await host?.close();
  await s?.close();
  await t?.destroy();
});

async function openSidebar(
  ticket: string,
  user: number,
  h = host,
  location: 'ticket_sidebar' | 'new_ticket_sidebar' = 'ticket_sidebar',
): Promise<{ page: Page; app: FrameLocator }> {
  const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
  pages.push(page);
  await page.goto(h.pageUrl({ ticket, user, location }));
  return { page, app: page.frameLocator('#app') };
}

const inSidebar = (page: Page) => page.frames().find((f) => f.url().includes('/assets/iframe.html'))!;

function storedRecord(over: Partial<LifecycleRecord> & { id: string; state: State; ticket_id: string }): LifecycleRecord {
  const at = new Date().toISOString();
  return {
    kind: 'upgrade',
    subtype: 'subscription',
    account_id: 'acc_acme',
    requested_by: ANN.email,
    requester: null,
    reason_code: 'growth',
    reason_text: 'More seats',
    effective: 'immediate',
    effective_at: at,
    version: 3,
    details: { from_plan: 'growth', to_plan: 'business', price_delta: { amount_minor: 20_000, currency: 'EUR' } },
    amount: { amount_minor: 12_345, currency: 'EUR' },
    risk_flags: [],
    problems: [],
    created_at: at,
    updated_at: at,
    ...over,
  };
}

describe('the sidebar', () => {
  it('renders every record state, fits the sidebar width and sizes itself', async () => {
    const repo = new KnexRecordRepository(t.db);
    const ids = new Map<State, string>();
    for (const [i, state] of STATES.entries()) {
      const id = `00000000-0000-4000-8000-0000000070${String(i).padStart(2, '0')}`;
      ids.set(state, id);
      await repo.insert(
        storedRecord({
          id,
          state,
          ticket_id: String(7000 + i),
          ...(state === 'scheduled' ? { effective: 'end_of_term', effective_at: new Date(Date.now() + 10 * DAY).toISOString() } : {}),
          ...(state === 'draft' ? { problems: [{ field: 'details.to_plan', message: '"free" is not higher than the current plan "growth"' }] } : {}),
          ...(state === 'pending_approval' ? { risk_flags: ['unknown_requester'] } : {}),
        }),
      );
    }
    for (const [i, state] of STATES.entries()) {
      const { page, app } = await openSidebar(String(7000 + i), ANN.id);
      const record = app.locator(`.ld-record[data-record="${ids.get(state)}"]`);
      await record.waitFor({ timeout: 15_000 });
      expect(await record.getAttribute('data-state')).toBe(state);
      expect(await app.locator('.ld-record__words').textContent()).toBe(stateWords(state));
      expect(await app.locator('.ld-error').count()).toBe(0);
      expect(await app.locator('.ld-account').textContent()).toContain('Acme GmbH');
      // The agent's buttons follow the state and the access table: retry is never theirs.
      expect(await app.locator('[data-action="fix"]').count()).toBe(state === 'draft' ? 1 : 0);
      expect(await app.locator('[data-action="cancel"]').count()).toBe(['draft', 'pending_approval', 'scheduled'].includes(state) ? 1 : 0);
      expect(await app.locator('[data-action="retry"]').count()).toBe(0);
      // At the sidebar's width nothing overflows sideways, and the frame is sized to the content.
      const { scrollWidth, clientWidth, height } = await inSidebar(page).evaluate<{ scrollWidth: number; clientWidth: number; height: number }>(
        '({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth, height: Math.ceil(document.body.getBoundingClientRect().height) })',
      );
      expect(clientWidth).toBe(320);
      expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
      await until(async () => (await page.evaluate<string | undefined>('window.zafHost.resizes.at(-1)?.height')) === `${height}px`, 5000, 'resize');
      expect(height).toBeGreaterThan(200);
      await page.close();
    }
  });

  it("files a request from the ticket's fields; it becomes a record, and a Slack approval shows up without reloading", async () => {
    const start = new Date(Date.now() - 9 * DAY).toISOString().slice(0, 10);
    const end = new Date(Date.now() - 2 * DAY).toISOString().slice(0, 10);
    host.tickets.set('4200', {
      id: 4200,
      subject: 'Outage last week',
      requester: { email: 'ops@big.example', name: 'Olga Ops' },
      fields: {
        [field('kind')]: 'lc_credit',
        [field('subtype')]: 'lc_goodwill',
        [field('account_id')]: 'acc_big',
        [field('reason_code')]: 'outage',
        [field('amount')]: '250.00',
        [field('currency')]: 'EUR',
        [field('period_start')]: start,
        [field('period_end')]: end,
      },
    });
    const { page, app } = await openSidebar('4200', ANN.id);
    await app.locator('.ld-empty').waitFor();
    await app.locator('[data-action="file"]').click();
    // Prefilled from the ticket's custom fields.
    expect(await app.locator('select[data-field="kind"]').inputValue()).toBe('service_credit');
    expect(await app.locator('input[data-field="account_id"]').inputValue()).toBe('acc_big');
    expect(await app.locator('input[data-field="amount"]').inputValue()).toBe('250.00');
    expect(await app.locator('[data-action="submit"]').isDisabled()).toBe(true);
    await app.locator('[data-action="preview"]').click();
    await app.locator('.ld-preview').waitFor();
    expect(await app.locator('.ld-preview').textContent()).toContain('Credit of €250.00 to the customer');
    expect(await app.locator('.ld-outlook').textContent()).toMatch(/^Needs 1 approval in Slack \(.+\)\.$/);
    await app.locator('[data-action="submit"]').click();
    await app.locator('.ld-notice', { hasText: 'Request filed.' }).waitFor();

    const row = await t.db('lifecycle_records').where({ ticket_id: '4200' }).first();
    expect(row).toMatchObject({ kind: 'service_credit', account_id: 'acc_big', requested_by: ANN.email, amount_minor: '-25000', currency: 'EUR' });
    const created = await t.db('audit_events').where({ record_id: row.id, type: 'record.created' }).first();
    expect(created.actor).toEqual({ role: 'agent', id: ANN.email, name: 'Ann Agent' });

    // The policy asks Slack; the sidebar follows by itself.
    await app.locator('.ld-record[data-state="pending_approval"]').waitFor({ timeout: 20_000 });
    await app.locator('.ld-approvals', { hasText: 'Still needed' }).waitFor();
    expect(await app.locator('.ld-approvals a.ld-link').getAttribute('href')).toMatch(/^https:\/\/slack\.com\/archives\/C0LDAPPROVALS\/p\d+$/);

    await until(
      async () => ((await t.db('approval_requests').where({ record_id: row.id }).first())?.messages?.length ?? 0) > 0,
      10_000,
      'Slack message stored',
    );
    const post = s.stack.slack.callsOf('chat.postMessage').find((c) => JSON.stringify(c.args.blocks ?? '').includes(row.id))!;
    const value = (post.args.blocks as { type: string; elements?: { action_id: string; value: string }[] }[])
      .find((b) => b.type === 'actions')!
      .elements!.find((e) => e.action_id === 'approval_approve')!.value;
    const ts = (await t.db('approval_requests').where({ record_id: row.id }).first()).messages[0].ts as string;
    const click = slackInteractionRequest(
      {
        type: 'block_actions',
        user: { id: 'U0LDSUP01', name: 'sup1' },
        team: { id: 'T1' },
        api_app_id: 'A1',
        trigger_id: 'trig-1',
        channel: { id: 'C0LDAPPROVALS', name: 'approvals' },
        message: { ts, type: 'message' },
        container: { type: 'message', message_ts: ts, channel_id: 'C0LDAPPROVALS' },
        actions: [{ type: 'button', action_id: 'approval_approve', block_id: 'approval_actions', value, action_ts: '1' }],
      },
      { signingSecret: s.stack.secrets.slackSigning },
    );
    const loadsBefore = host.proxyCalls.length;
    expect((await fetch(`${s.base}/slack/events`, { method: 'POST', headers: click.headers, body: click.body })).status).toBe(200);
    await app.locator('.ld-approvals', { hasText: 'U0LDSUP01' }).waitFor({ timeout: 20_000 });
    await app.locator('.ld-record[data-state="confirmed"]').waitFor({ timeout: 30_000 });
    await app.locator('.ld-billing', { hasText: 'sent' }).waitFor({ timeout: 10_000 });
    // Same page, no reload: the updates came from polling.
    expect(host.proxyCalls.length).toBeGreaterThan(loadsBefore);
    expect(await page.evaluate<number>("performance.getEntriesByType('navigation').length")).toBe(1);
    // The form was taller than the record view: the frame shrank back to what it shows.
    const content = await inSidebar(page).evaluate<number>('Math.ceil(document.body.getBoundingClientRect().height)');
    await until(
      async () => (await page.evaluate<string>("document.getElementById('app').style.height")) === `${content}px`,
      5000,
      'frame sized to the record view',
    );
    await page.locator('#sidebar').screenshot({ path: path.join(outDir, 'sidebar.png') });
  });

  it('shows each problem of a draft beside the ticket field it concerns, and fixes the draft', async () => {
    const body = triggerBody(4300, {
      kind: 'lc_downgrade',
      subtype: 'lc_subscription',
      account_id: 'acc_acme',
      reason_code: 'budget_cut',
      to_plan: 'lc_enterprise',
    });
    const raw = JSON.stringify(body);
    const res = await fetch(`${s.base}/webhooks/zendesk`, { method: 'POST', headers: zendeskHeaders(s.stack.secrets.zendeskWebhook, raw), body: raw });
    expect(((await res.json()) as { state: string }).state).toBe('draft');
    host.tickets.set('4300', {
      id: 4300,
      subject: 'Please change our plan',
      requester: { email: 'ops@acme.example', name: 'Olga Ops' },
      fields: {
        [field('kind')]: 'lc_downgrade',
        [field('subtype')]: 'lc_subscription',
        [field('account_id')]: 'acc_acme',
        [field('reason_code')]: 'budget_cut',
        [field('to_plan')]: 'lc_enterprise',
      },
    });
    const { app } = await openSidebar('4300', ANN.id);
    await app.locator('.ld-record[data-state="draft"]').waitFor();
    expect(await app.locator('.ld-draft li[data-problem-field="to_plan"]').textContent()).toMatch(
      /^Target plan \(field 360001000008\): "enterprise" is not lower/,
    );

    await app.locator('[data-action="fix"]').click();
    const toPlan = app.locator('[data-field-wrap="to_plan"]');
    expect(await toPlan.locator('.ld-problem').textContent()).toMatch(/"enterprise" is not lower than the current plan "growth"/);
    expect(await toPlan.locator('select').getAttribute('aria-invalid')).toBe('true');
    await toPlan.locator('select').selectOption('starter');
    await app.locator('[data-action="preview"]').click();
    await app.locator('.ld-preview.c-callout--success').waitFor();
    await app.locator('[data-action="submit"]').click();
    await app.locator('.ld-notice', { hasText: 'Draft fixed and submitted.' }).waitFor();
    const row = await t.db('lifecycle_records').where({ ticket_id: '4300' }).first();
    expect(row.state).not.toBe('draft');
    expect(row.details.to_plan).toBe('starter');
    expect(row.problems).toEqual([]);
    expect((await t.db('audit_events').where({ record_id: row.id, type: 'record.submit' }).first()).actor).toMatchObject({ role: 'agent', id: ANN.email });
  });

  it('hides an action the role may not take, and refuses it with 403 when called by hand', async () => {
    const id = '00000000-0000-4000-8000-000000004400';
    await new KnexRecordRepository(t.db).insert(storedRecord({ id, state: 'failed', ticket_id: '4400', account_id: 'acc_retry' }));
    const agent = await openSidebar('4400', ANN.id);
    await agent.app.locator('.ld-record[data-state="failed"]').waitFor();
    expect(await agent.app.locator('[data-action="retry"]').count()).toBe(0);
    expect(await agent.app.locator('.ld-record').textContent()).toContain('A supervisor or finance can retry this record.');
    const finance = await openSidebar('4400', FRED.id);
    await finance.app.locator('[data-action="retry"]').waitFor();
    expect(await finance.app.locator('[data-role]').getAttribute('data-role')).toBe('finance');

    // The same call the button makes, sent by hand from the agent's browser through the proxy.
    const byHand = await host.proxy(ANN.id, {
      url: `${s.base}/api/zaf/records/${id}/retry`,
      type: 'POST',
      contentType: 'application/json',
      data: JSON.stringify({ version: 3 }),
      secure: true,
      headers: { Authorization: 'Bearer {{jwt.token}}' },
      jwt: {
        algorithm: 'HS256',
        secret_key: '{{setting.shared_secret}}',
        expiry: 300,
        claims: { iss: 'https://lifecycle-demo.zendesk.com', aud: 'lifecycle-desk', sub: '{{current_user.id}}', email: '{{current_user.email}}' },
      },
    });
    expect(byHand.status).toBe(403);
    expect((await t.db('lifecycle_records').where({ id }).first()).state).toBe('failed');
    const denied = await t.db('audit_events').where({ record_id: id, type: 'access.denied' }).first();
    expect(denied).toMatchObject({ actor: { id: ANN.email }, data: { action: 'retry_record', role: 'agent' } });

    // Finance may: the button sends the record to billing again, as them.
    await finance.app.locator('[data-action="retry"]').click();
    await finance.app.locator('.ld-notice', { hasText: 'Sent to billing again.' }).waitFor();
    expect(await t.db('audit_events').where({ record_id: id, type: 'record.retry' }).first()).toMatchObject({ actor: { role: 'agent', id: FRED.email } });
  });

  it('cancels a scheduled record before its instant, after the agent confirms', async () => {
    const id = '00000000-0000-4000-8000-000000004700';
    await new KnexRecordRepository(t.db).insert(
      storedRecord({
        id,
        state: 'scheduled',
        ticket_id: '4700',
        kind: 'downgrade',
        details: { from_plan: 'growth', to_plan: 'starter' },
        amount: null,
        effective: 'end_of_term',
        effective_at: new Date(Date.now() + 5 * DAY).toISOString(),
      }),
    );
    const { page, app } = await openSidebar('4700', ANN.id);
    await app.locator('.ld-record[data-state="scheduled"]').waitFor();
    const asked: string[] = [];
    page.on('dialog', (d) => {
      asked.push(d.message());
      void d.accept();
    });
    await app.locator('[data-action="cancel"]').click();
    await app.locator('.ld-record[data-state="cancelled"]').waitFor();
    expect(asked).toEqual(['Cancel this downgrade? The customer is not billed for it.']);
    expect(await app.locator('[data-action="cancel"]').count()).toBe(0);
    expect((await t.db('audit_events').where({ record_id: id, type: 'record.cancel' }).first()).actor).toMatchObject({ role: 'agent', id: ANN.email });
  });

  it('on a new ticket, previews and puts the request into the ticket fields for the ticket to file', async () => {
    host.tickets.set('new-1', { id: null, subject: 'New request', requester: null, fields: {} });
    const { page, app } = await openSidebar('new-1', ANN.id, host, 'new_ticket_sidebar');
    await app.locator('[data-form="ticket"]').waitFor();
    await app.locator('select[data-field="kind"]').selectOption('upgrade');
    await app.locator('select[data-field="subtype"]').selectOption('subscription');
    await app.locator('input[data-field="account_id"]').fill('acc_acme');
    await app.locator('input[data-field="reason_code"]').fill('growth');
    await app.locator('select[data-field="to_plan"]').selectOption('business');
    await app.locator('[data-action="preview"]').click();
    await app.locator('.ld-preview.c-callout--success').waitFor();
    await app.locator('[data-action="submit"]').click();
    await app.locator('.ld-notice', { hasText: 'filed when you submit the ticket' }).waitFor();
    const fields = await page.evaluate<Record<string, unknown>>('window.zafHost.ticket.fields');
    expect(fields).toMatchObject({
      [field('kind')]: 'lc_upgrade',
      [field('subtype')]: 'lc_subscription',
      [field('account_id')]: 'acc_acme',
      [field('to_plan')]: 'lc_business',
    });
  });
});

describe('errors are said in words, never a blank panel', () => {
  it('when the service is down', async () => {
    const down = await ZafHost.start({
      appDir: pkg.stageDir,
      settings: { service_url: 'http://127.0.0.1:9', shared_secret: SECRET },
      subdomain: 'lifecycle-demo',
    });
    down.users.set(ANN.id, ANN);
    try {
      const { app } = await openSidebar('7001', ANN.id, down);
      await app.locator('.ld-error').waitFor();
      expect(await app.locator('.ld-error').textContent()).toContain('Lifecycle Desk cannot be reached right now');
      expect(await app.locator('.ld-error button').textContent()).toBe('Try again');
    } finally {
      await down.close();
    }
  });

  it('when the installation has the wrong shared secret (401)', async () => {
    const wrong = await ZafHost.start({
      appDir: pkg.stageDir,
      settings: { service_url: s.base, shared_secret: 'not-the-secret-0123456789abcdef-0123456789' },
      subdomain: 'lifecycle-demo',
    });
    wrong.users.set(ANN.id, ANN);
    try {
      const { app } = await openSidebar('7001', ANN.id, wrong);
      await app.locator('.ld-error').waitFor();
      expect(await app.locator('.ld-error').textContent()).toMatch(/did not accept this app's sign-in.*signature does not match the shared secret/);
    } finally {
      await wrong.close();
    }
  });
});
