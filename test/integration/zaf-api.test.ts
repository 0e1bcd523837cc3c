import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { seedAccounts } from '../helpers/app';
import { startTestService } from '../helpers/service';
import type { TestService } from '../helpers/service';
import { agentClaims, signZafToken } from '../helpers/zaf-token';
import { verifyAudit } from '../../src/db/audit.queries';
import { KnexRecordRepository } from '../../src/db/records.repository';
import type { LifecycleRecord, State } from '../../src/records/kinds';

/**
 * /api/zaf/* over HTTP, as Zendesk's proxy calls it: a token signed with the shared secret, an
 * agent the service confirms with the Zendesk Users API, roles from ZAF_ROLES_FILE.
 */

const SECRET = 'zaf-shared-secret-for-tests-0123456789abcdef';
const DAY = 86_400_000;
let t: TestDb;
let s: TestService;

const USERS = {
  ann: { id: 9001, name: 'Ann Agent', email: 'ann.agent@support.example', role: 'agent' as const },
  fin: { id: 9002, name: 'Fred Finance', email: 'fred@support.example', role: 'agent' as const, custom_role_id: 360000000102 },
  end: { id: 9003, name: 'Eve Customer', email: 'eve@customer.example', role: 'end-user' as const },
  sus: { id: 9004, name: 'Sam Suspended', email: 'sam@support.example', role: 'agent' as const, suspended: true },
};

beforeAll(async () => {
  t = await createTestDb();
  const now = Date.now();
  await seedAccounts(t.db, buildAccount({ term_start: new Date(now - 10 * DAY).toISOString(), term_end: new Date(now + 20 * DAY).toISOString() }));
  s = await startTestService(t, { worker: false, env: { ZAF_SHARED_SECRET: SECRET } });
  for (const u of Object.values(USERS)) s.stack.zendesk.users.set(u.id, u);
});
afterAll(async () => {
  await s.close();
  await t.destroy();
});

const tokenFor = (u: { id: number; email: string; name: string }, over: Record<string, unknown> = {}, secret = SECRET) =>
  signZafToken(agentClaims(new Date(), { sub: String(u.id), email: u.email, name: u.name, ...over }), secret);

async function call(method: string, path: string, token: string | null, body?: unknown) {
  const res = await fetch(`${s.base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const upgradeForm = {
  fields: { kind: 'upgrade', subtype: 'subscription', account_id: 'acc_acme', reason_code: 'growth', to_plan: 'business', effective: 'immediate' },
  ticket: { subject: 'More seats' },
};

describe('who may call', () => {
  it.each([
    ['no token', null],
    ['an expired token', signZafToken(agentClaims(new Date(Date.now() - 600_000), { sub: '9001', email: USERS.ann.email }), SECRET)],
    ['a token signed with another secret', tokenFor(USERS.ann, {}, 'another-secret-0123456789abcdef-0123')],
    ['a token for another Zendesk account', tokenFor(USERS.ann, { iss: 'https://other.zendesk.com' })],
    ['a token without the agent', tokenFor(USERS.ann, { sub: undefined })],
    ['a token naming a user Zendesk does not know', tokenFor({ id: 123456, email: 'ghost@support.example', name: 'Ghost' })],
    ['a token naming an end user', tokenFor(USERS.end)],
    ['a token naming a suspended agent', tokenFor(USERS.sus)],
    ["a token whose email is not the user's", tokenFor(USERS.ann, { email: 'someone.else@support.example' })],
  ])('refuses %s with 401 and words an agent understands', async (_what, token) => {
    const r = await call('GET', '/api/zaf/session', token);
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('unauthorized');
    expect(r.body.error.message).not.toContain(SECRET);
  });

  it('refuses everyone (503, in words) while Zendesk cannot confirm who they are', async () => {
    const newcomer = { id: 9010, name: 'Nina New', email: 'nina@support.example', role: 'agent' as const };
    s.stack.zendesk.users.set(newcomer.id, newcomer);
    s.stack.zendesk.failNext({ status: 500 }, 2);
    const r = await call('GET', '/api/zaf/session', tokenFor(newcomer));
    expect(r.status).toBe(503);
    expect(r.body.error.message).toMatch(/could not check who you are with Zendesk/);
    expect((await call('GET', '/api/zaf/session', tokenFor(newcomer))).status).toBe(200);
  });

  it('answers the agent, their role and what they may do', async () => {
    const r = await call('GET', '/api/zaf/session', tokenFor(USERS.ann));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      agent: { zendesk_user_id: '9001', email: USERS.ann.email },
      role: 'agent',
      actions: expect.not.arrayContaining(['retry_record']),
    });
    expect(r.body.field_map.fields).toEqual(
      expect.arrayContaining([{ name: 'to_plan', id: 360001000008, label: 'Target plan', ticket_field: 'Target plan (field 360001000008)' }]),
    );
    // The form's fields per kind come from the kind modules, not from the sidebar's own list.
    expect(r.body.choices.kind_fields).toMatchObject({
      service_credit: expect.arrayContaining(['amount', 'period_start']),
      upgrade: expect.arrayContaining(['to_plan']),
    });
    const f = await call('GET', '/api/zaf/session', tokenFor(USERS.fin));
    expect(f.body.role).toBe('finance');
  });
});

describe('filing from the sidebar', () => {
  it('previews, then files the ticket request with the previewed figures and the agent as actor', async () => {
    const token = tokenFor(USERS.ann);
    const p = await call('POST', '/api/zaf/preview', token, { form: upgradeForm, ticket_id: '4100' });
    expect(p.status).toBe(200);
    expect(p.body.problems).toEqual([]);
    expect(p.body.record.amount.amount_minor).toBeGreaterThan(0);
    // What the policy would say, from the same computation the policy step makes.
    expect(p.body.approval).toEqual({ rule: expect.any(String), approvals_required: expect.any(Number), risk: [] });
    const f = await call('POST', '/api/zaf/records', token, { form: upgradeForm, quote: p.body.quote, ticket_id: '4100' });
    expect(f.status).toBe(201);
    expect(f.body.record).toMatchObject({
      ticket_id: '4100',
      requested_by: USERS.ann.email,
      state: 'submitted',
      money: { net: { amount_minor: p.body.record.amount.amount_minor } },
      effective_at: p.body.record.effective_at,
    });
    const created = await t.db('audit_events').where({ record_id: f.body.record.id, type: 'record.created' }).first();
    expect(created.actor).toEqual({ role: 'agent', id: USERS.ann.email, name: 'Ann Agent' });

    const again = await call('POST', '/api/zaf/records', token, { form: upgradeForm, quote: p.body.quote, ticket_id: '4100' });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/already has a request on its way/);

    const view = await call('GET', '/api/zaf/tickets/4100', token);
    expect(view.status).toBe(200);
    expect(view.body.records[0]).toMatchObject({ id: f.body.record.id, kind_label: 'Upgrade', actions: { fix: false, retry: false } });
    expect(view.body.account).toMatchObject({ id: 'acc_acme', name: 'Acme GmbH', mrr: { text: '€99.00' } });
    const same = await call('GET', `/api/zaf/tickets/4100?stamp=${view.body.stamp}`, token);
    expect(same.body).toEqual({ unchanged: true, stamp: view.body.stamp });
  });

  it('names the ticket field each problem concerns', async () => {
    const form = { fields: { ...upgradeForm.fields, kind: 'downgrade', to_plan: 'enterprise', amount: 'abc', currency: 'EUR' } };
    const p = await call('POST', '/api/zaf/preview', tokenFor(USERS.ann), { form, ticket_id: '4101' });
    expect(p.body.quote).toBeNull();
    expect(p.body.problems).toEqual(
      expect.arrayContaining([expect.objectContaining({ field: 'details.to_plan', field_name: 'to_plan', ticket_field: 'Target plan (field 360001000008)' })]),
    );
  });

  it('refuses with 403 what the role may not do, even called by hand, and writes the refusal to the audit trail', async () => {
    const token = tokenFor(USERS.fin);
    const p = await call('POST', '/api/zaf/preview', token, { form: upgradeForm, ticket_id: '4102' });
    expect(p.status).toBe(200);
    const f = await call('POST', '/api/zaf/records', token, { form: upgradeForm, quote: p.body.quote, ticket_id: '4102' });
    expect(f.status).toBe(403);
    expect(f.body.error.message).toMatch(/finance\) may not file request/);
    expect(await t.db('lifecycle_records').where({ ticket_id: '4102' }).count('* as n').first()).toEqual({ n: '0' });
    const denied = await t.db('audit_events').where({ type: 'access.denied' }).orderBy('id', 'desc').first();
    expect(denied).toMatchObject({
      account_id: 'acc_acme',
      actor: { id: USERS.fin.email },
      data: { action: 'file_request', role: 'finance', via: 'zendesk_app' },
    });
    expect((await verifyAudit(t.db)).broken).toBeNull();
  });
});

describe('acting on a record', () => {
  const at = () => new Date().toISOString();
  const insert = async (id: string, state: State, over: Partial<LifecycleRecord> = {}) =>
    new KnexRecordRepository(t.db).insert({
      id,
      kind: 'downgrade',
      subtype: 'subscription',
      account_id: 'acc_acme',
      ticket_id: '4500',
      requested_by: USERS.ann.email,
      requester: null,
      reason_code: 'budget',
      reason_text: '',
      effective: 'end_of_term',
      effective_at: new Date(Date.now() + 5 * DAY).toISOString(),
      state,
      version: 4,
      details: { from_plan: 'growth', to_plan: 'starter' },
      amount: null,
      risk_flags: [],
      problems: [],
      created_at: at(),
      updated_at: at(),
      ...over,
    });

  it('two agents filing on one ticket at once file one record; the other is told why', async () => {
    const token = tokenFor(USERS.ann);
    const p = await call('POST', '/api/zaf/preview', token, { form: upgradeForm, ticket_id: '4600' });
    const both = await Promise.all([1, 2].map(() => call('POST', '/api/zaf/records', token, { form: upgradeForm, quote: p.body.quote, ticket_id: '4600' })));
    expect(both.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(await t.db('lifecycle_records').where({ ticket_id: '4600' }).count('* as n').first()).toEqual({ n: '1' });
  });

  it('cancels a scheduled record before its instant, on the version the agent saw', async () => {
    const id = '00000000-0000-4000-8000-000000004501';
    await insert(id, 'scheduled');
    const token = tokenFor(USERS.ann);
    const stale = await call('POST', `/api/zaf/records/${id}/cancel`, token, { version: 3 });
    expect(stale.status).toBe(409);
    const ok = await call('POST', `/api/zaf/records/${id}/cancel`, token, { version: 4, reason: 'customer stays' });
    expect(ok.status).toBe(200);
    expect(ok.body.record).toMatchObject({
      state: 'cancelled',
      timeline: expect.arrayContaining([expect.objectContaining({ words: 'Cancelled by Ann Agent: customer stays' })]),
    });
  });

  it("a poller learns when a scheduled record's instant passes: the cancel button goes", async () => {
    const id = '00000000-0000-4000-8000-000000004504';
    const instant = Date.now() + 1500;
    await insert(id, 'scheduled', { ticket_id: '4504', effective_at: new Date(instant).toISOString() });
    const token = tokenFor(USERS.ann);
    const before = await call('GET', '/api/zaf/tickets/4504', token);
    expect(before.body.records[0].actions).toEqual({ fix: false, cancel: true, retry: false, dispute: false, resolve: false });
    expect((await call('GET', `/api/zaf/tickets/4504?stamp=${before.body.stamp}`, token)).body.unchanged).toBe(true);
    await new Promise((r) => setTimeout(r, Math.max(0, instant - Date.now()) + 50));
    const after = await call('GET', `/api/zaf/tickets/4504?stamp=${before.body.stamp}`, token);
    expect(after.body.unchanged).toBeUndefined();
    expect(after.body.records[0].actions.cancel).toBe(false);
  });

  it('refuses to cancel a scheduled record once its instant has passed', async () => {
    const id = '00000000-0000-4000-8000-000000004502';
    await insert(id, 'scheduled', { effective_at: new Date(Date.now() - 60_000).toISOString() });
    const r = await call('POST', `/api/zaf/records/${id}/cancel`, tokenFor(USERS.ann), { version: 4 });
    expect(r.status).toBe(409);
    expect(r.body.error.message).toMatch(/took effect at .* once applied it can be disputed/);
    expect((await t.db('lifecycle_records').where({ id }).first()).state).toBe('scheduled');
  });

  it('lets finance retry a failed record, not fix a record that is no draft', async () => {
    const id = '00000000-0000-4000-8000-000000004503';
    await insert(id, 'failed', { ticket_id: '4503' });
    const retry = await call('POST', `/api/zaf/records/${id}/retry`, tokenFor(USERS.fin), { version: 4 });
    expect(retry.status).toBe(200);
    expect(retry.body.record.state).toBe('applying');
    expect(await t.db('audit_events').where({ record_id: id, type: 'record.retry' }).first()).toMatchObject({ actor: { role: 'agent', id: USERS.fin.email } });
    const p = await call('POST', '/api/zaf/preview', tokenFor(USERS.ann), { form: upgradeForm, ticket_id: '4503' });
    const fix = await call('POST', `/api/zaf/records/${id}/fix`, tokenFor(USERS.ann), { form: upgradeForm, quote: p.body.quote, version: 5 });
    expect(fix.status).toBe(409);
    expect(fix.body.error.message).toMatch(/not a draft/);
  });
});
