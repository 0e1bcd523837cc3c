import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRecord } from '../../src/app/create-record';
import { ingestTicket } from '../../src/app/ingest-ticket';
import { syncTicket } from '../../src/app/sync-ticket';
import { ticketNote } from '../../src/app/ticket-view';
import { ZendeskClient } from '../../src/integrations/zendesk/zendesk.client';
import { ZendeskStandin } from '../../devtools/zendesk.standin';
import { parseReasons, allReasonCodes } from '../../src/records/reasons';
import { AppError } from '../../src/records/errors';
import { loadConfig, ConfigError } from '../../src/config';
import { loadReasons } from '../../src/main';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { buildDeps, seedAccounts } from '../helpers/app';
import { downgradeRequest, ticketIntake } from '../helpers/intake';
import { runCli } from '../helpers/cli';

const FILE = path.resolve(__dirname, '..', '..', 'config', 'reasons.example.json');
const reasons = parseReasons(JSON.parse(fs.readFileSync(FILE, 'utf8')), FILE);

let t: TestDb;
let z: ZendeskStandin;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount());
  z = await ZendeskStandin.start({ email: 'bot@support.example', token: 'zd-token' });
});
afterAll(async () => {
  await z.close();
  await t.destroy();
});

const deps = () => ({ ...buildDeps(t.db), reasons });

it('a ticket whose reason is not in the taxonomy becomes a draft whose note lists the allowed reasons', async () => {
  const o = await ingestTicket(deps(), ticketIntake('8101', 'k-8101', downgradeRequest('acc_acme', { reason_code: 'moving_on' })));
  expect(o.record!.state).toBe('draft');
  const note = ticketNote(o.record!);
  expect(note).toContain(
    '- reason_code: "moving_on" is not a reason for a downgrade (subscription); expected one of: price, unused_features, budget_cut, dissatisfaction, switched_to_competitor, team_downsized, other',
  );

  // The agent picks an allowed reason: the draft is submitted.
  const fixed = await ingestTicket(deps(), ticketIntake('8101', 'k-8101-2', downgradeRequest('acc_acme', { reason_code: 'price' }), '2026-03-16T10:05:00Z'));
  expect(fixed.status).toBe('submitted');
  expect(fixed.record!.problems).toEqual([]);
});

it('the API refuses an unknown reason with a 422 naming the allowed ones, and stores nothing', async () => {
  const before = await t.db('lifecycle_records').count<{ n: string }[]>('* as n');
  const err = await createRecord(deps(), {
    request: downgradeRequest('acc_acme', { reason_code: 'because' }),
    actor: { role: 'agent', id: 'a' },
    onProblems: 'reject',
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).problems).toContainEqual({
    field: 'reason_code',
    message: expect.stringMatching(/^"because" is not a reason for a downgrade \(subscription\); expected one of: price, /),
  });
  const after = await t.db('lifecycle_records').count<{ n: string }[]>('* as n');
  expect(after).toEqual(before);
});

it('the ticket is tagged lifecycle_reason_<code>, and a revised reason takes the old tag off', async () => {
  z.addTicket({ id: 8102, tags: ['lifecycle_request', 'lifecycle_reason_budget_cut'] });
  const o = await ingestTicket(deps(), ticketIntake('8102', 'k-8102', downgradeRequest('acc_acme', { reason_code: 'switched_to_competitor' })));
  const helpdesk = new ZendeskClient({ baseUrl: z.apiUrl, email: 'bot@support.example', apiToken: 'zd-token' });
  await syncTicket({ store: deps().store, helpdesk, reasonCodes: allReasonCodes(reasons) }, o.record!.id);
  const tags = z.tickets.get(8102)!.tags;
  expect(tags).toContain('lifecycle_reason_switched_to_competitor');
  expect(tags).not.toContain('lifecycle_reason_budget_cut');
});

describe('a bad REASONS_FILE is a configuration error (exit code 2)', () => {
  const bad = path.join(os.tmpdir(), `reasons-bad-${process.pid}.json`);
  beforeAll(() => fs.writeFileSync(bad, JSON.stringify({ downgrade: { codes: { 'Too Expensive': 'x' } } })));
  afterAll(() => fs.rmSync(bad, { force: true }));

  it('loading it throws a ConfigError naming the variable, the file and the path', () => {
    const err = (() => {
      try {
        loadReasons(loadConfig({ REASONS_FILE: bad }));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(`REASONS_FILE: ${bad}: invalid reason taxonomy`);
    expect((err as Error).message).toContain('downgrade.codes.Too Expensive: expected a code of lowercase letters');
    expect((err as Error).message).toMatch(/upgrade: is required/);
  });

  it('start refuses to run with it and exits 2', async () => {
    const r = await runCli(['start', '--web'], {
      DATABASE_URL: t.url,
      ZENDESK_WEBHOOK_SECRET: 'zd-secret',
      SLACK_SIGNING_SECRET: 'sign',
      SLACK_BOT_TOKEN: 'xoxb-1',
      REASONS_FILE: bad,
    });
    expect(r.stderr).toMatch(/Invalid configuration:\n {2}- REASONS_FILE: /);
    expect(r.code).toBe(2);
  });

  it('a missing file is a configuration error too', async () => {
    const r = await runCli(['start', '--web'], {
      DATABASE_URL: t.url,
      ZENDESK_WEBHOOK_SECRET: 'zd-secret',
      SLACK_SIGNING_SECRET: 'sign',
      SLACK_BOT_TOKEN: 'xoxb-1',
      REASONS_FILE: '/nonexistent/reasons.json',
    });
    expect(r.stderr).toMatch(/REASONS_FILE: cannot read the reason taxonomy at \/nonexistent\/reasons\.json: ENOENT/);
    expect(r.code).toBe(2);
  });
});

it('`reasons --format zendesk` prints the Reason drop-down options for the Zendesk API, one per code', async () => {
  const r = await runCli(['reasons', '--format', 'zendesk'], {});
  expect(r.code).toBe(0);
  const options = (JSON.parse(r.stdout) as { ticket_field: { custom_field_options: { name: string; value: string }[] } }).ticket_field.custom_field_options;
  expect(options.map((o) => o.value)).toEqual(allReasonCodes(reasons).map((c) => `lc_reason_${c}`));
  const table = await runCli(['reasons'], {});
  expect(table.stdout).toContain(
    'termination non_payment: price, unused_features, budget_cut, dissatisfaction, switched_to_competitor, business_closed, other, non_payment\n',
  );
});
