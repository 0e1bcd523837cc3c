import { createTestDb, forceRecord } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest } from '../helpers/builders';
import { buildDeps, seedAccounts } from '../helpers/app';
import { startTestService } from '../helpers/service';
import type { TestService } from '../helpers/service';
import { agentClaims, signZafToken } from '../helpers/zaf-token';
import { createRecord } from '../../src/app/create-record';
import { verifyAudit } from '../../src/db/audit.queries';

/** Dispute and resolve from the Zendesk sidebar: roles × actions from the access table, the caller as the actor. */
const SECRET = 'zaf-shared-secret-for-tests-0123456789abcdef';
const DAY = 86_400_000;
let t: TestDb;
let s: TestService;

const USERS = {
  ann: { id: 9101, name: 'Ann Agent', email: 'ann.agent@support.example', role: 'agent' as const },
  sue: { id: 9102, name: 'Sue Supervisor', email: 'sue@support.example', role: 'agent' as const, custom_role_id: 360000000101 },
  fin: { id: 9103, name: 'Fred Finance', email: 'fred@support.example', role: 'agent' as const, custom_role_id: 360000000102 },
};

beforeAll(async () => {
  t = await createTestDb();
  const now = Date.now();
  await seedAccounts(
    t.db,
    buildAccount({
      term_start: new Date(now - 10 * DAY).toISOString(),
      term_end: new Date(now + 20 * DAY).toISOString(),
      billing_started_at: '2025-01-01T00:00:00Z',
    }),
  );
  s = await startTestService(t, { worker: false, env: { ZAF_SHARED_SECRET: SECRET } });
  for (const u of Object.values(USERS)) s.stack.zendesk.users.set(u.id, u);
});
afterAll(async () => {
  await s.close();
  await t.destroy();
});

const tokenFor = (u: { id: number; email: string; name: string }) =>
  signZafToken(agentClaims(new Date(), { sub: String(u.id), email: u.email, name: u.name }), SECRET);

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${s.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A confirmed service credit on a ticket (forced there: how it got applied is not under test). */
async function confirmedCredit(ticketId: string) {
  const { record } = await createRecord(buildDeps(t.db), {
    request: buildRequest('service_credit', { ticket_id: ticketId, requester: { email: 'ops@acme.example' } }),
    actor: { role: 'agent', id: USERS.ann.email },
    onProblems: 'reject',
  });
  await forceRecord(t, record.id, { state: 'confirmed', version: 6 });
  return record.id;
}

it('an agent disputes from the sidebar with referenced documents; only a supervisor may resolve, and the buttons follow the role', async () => {
  const id = await confirmedCredit('4801');
  const ann = tokenFor(USERS.ann);
  const view = await call('GET', '/api/zaf/tickets/4801?account_id=acc_acme', ann);
  expect(view.status).toBe(200);
  expect(view.body.records[0].actions).toMatchObject({ dispute: true, resolve: false });
  expect((await call('GET', '/api/zaf/session', ann)).body.actions).toEqual(expect.arrayContaining(['dispute_record']));

  const inline = await call('POST', `/api/zaf/records/${id}/dispute`, ann, {
    version: 6,
    reason: 'Wrong period',
    documents: [{ content: 'JVBERi0xLjQK', filename: 'invoice.pdf' }],
  });
  expect(inline.status).toBe(422);
  const d = await call('POST', `/api/zaf/records/${id}/dispute`, ann, { version: 6, reason: 'Wrong period', documents: [{ zendesk_attachment_id: '5566' }] });
  expect(d.status).toBe(200);
  expect(d.body.record.state).toBe('disputed');
  const event = await t.db('audit_events').where({ record_id: id, type: 'record.dispute' }).first();
  expect(event.actor).toEqual({ role: 'agent', id: USERS.ann.email, name: 'Ann Agent' });
  expect(event.data.documents).toEqual([{ zendesk_attachment_id: '5566' }]);

  // Agents and finance may not resolve: 403, and the attempt is on record.
  for (const u of [USERS.ann, USERS.fin]) {
    const r = await call('POST', `/api/zaf/records/${id}/resolve`, tokenFor(u), { version: 7, reason: 'fine', outcome: 'upheld' });
    expect(r.status).toBe(403);
  }
  expect(await t.db('audit_events').where({ record_id: id, type: 'access.denied' }).count<{ n: string }[]>('* as n')).toEqual([{ n: '2' }]);

  const sue = tokenFor(USERS.sue);
  expect((await call('GET', '/api/zaf/tickets/4801?account_id=acc_acme', sue)).body.records[0].actions).toMatchObject({ dispute: false, resolve: true });
  const stale = await call('POST', `/api/zaf/records/${id}/resolve`, sue, { version: 6, reason: 'fine', outcome: 'upheld' });
  expect(stale.status).toBe(409);
  const r = await call('POST', `/api/zaf/records/${id}/resolve`, sue, { version: 7, reason: 'The credit covers the outage as measured', outcome: 'upheld' });
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ record: { state: 'resolved' }, outcome: 'upheld', reversal_record_id: null });
  const resolved = await t.db('audit_events').where({ record_id: id, type: 'record.resolve' }).first();
  expect(resolved.actor).toEqual({ role: 'supervisor', id: USERS.sue.email, name: 'Sue Supervisor' });
  expect(
    await t
      .db('outbox')
      .where({ key: `email.${id}.resolved` })
      .first(),
  ).toBeTruthy();
  expect((await verifyAudit(t.db, 'acc_acme')).broken).toBeNull();
});
