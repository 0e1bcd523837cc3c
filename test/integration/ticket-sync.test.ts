import { syncTicket } from '../../src/app/sync-ticket';
import { ingestTicket } from '../../src/app/ingest-ticket';
import { ZendeskClient } from '../../src/integrations/zendesk/zendesk.client';
import { ZendeskStandin } from '../../devtools/zendesk.standin';
import { createTestDb, forceRecord } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { buildDeps, seedAccounts } from '../helpers/app';
import { downgradeRequest, ticketIntake } from '../helpers/intake';

let t: TestDb;
let z: ZendeskStandin;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount());
  z = await ZendeskStandin.start({ email: 'bot@support.example', token: 'zd-token' });
  z.users.set(2, { id: 2, name: 'Agent Smith', email: 'agent@support.example' });
});
afterAll(async () => {
  await z.close();
  await t.destroy();
});

const helpdesk = () => new ZendeskClient({ baseUrl: z.apiUrl, email: 'bot@support.example', apiToken: 'zd-token' });

/** A record of this ticket, moved straight to `confirmed` (the customer has been emailed). */
async function confirmedRecord(ticket: number): Promise<string> {
  const deps = buildDeps(t.db);
  const o = await ingestTicket(deps, ticketIntake(String(ticket), `k-${ticket}`, downgradeRequest()));
  await forceRecord(t, o.record!.id, { state: 'confirmed', version: 5 });
  return o.record!.id;
}

it('a ticket without an assignee, which Zendesk refuses to solve, still gets its note and tags, and the note says it is not solved', async () => {
  z.addTicket({ id: 701, tags: ['lifecycle_request', 'lifecycle_scheduled'], assignee_id: null });
  const id = await confirmedRecord(701);
  expect(await syncTicket({ store: buildDeps(t.db).store, helpdesk: helpdesk(), solveOnConfirm: true }, id)).toBe('synced');

  const puts = z.requests.filter((r) => r.method === 'PUT' && r.path === '/api/v2/tickets/701.json');
  expect(puts.map((r) => r.status)).toEqual([422, 200]);
  expect((puts[1]!.body as { ticket: Record<string, unknown> }).ticket.status).toBeUndefined();
  const ticket = z.tickets.get(701)!;
  expect(ticket.status).toBe('open');
  expect(ticket.tags).toEqual(expect.arrayContaining(['lifecycle_downgrade', 'lifecycle_confirmed']));
  expect(ticket.tags).not.toContain('lifecycle_scheduled');
  expect(z.notes(701)).toHaveLength(1);
  expect(z.notes(701)[0]).toMatch(
    new RegExp(`record ${id}[\\s\\S]*confirmed to the customer[\\s\\S]*refused to set this ticket to solved \\(Assignee: is required when solving a ticket\\)`),
  );
  // Synced: the same version is not sent again.
  expect(await syncTicket({ store: buildDeps(t.db).store, helpdesk: helpdesk(), solveOnConfirm: true }, id)).toBe('skipped_stale');
});

it('a ticket with an assignee is solved in the same update as its note', async () => {
  z.addTicket({ id: 702, tags: ['lifecycle_request'], assignee_id: 2 });
  const id = await confirmedRecord(702);
  await syncTicket({ store: buildDeps(t.db).store, helpdesk: helpdesk(), solveOnConfirm: true }, id);
  expect(z.requests.filter((r) => r.path === '/api/v2/tickets/702.json').map((r) => r.status)).toEqual([200]);
  expect(z.tickets.get(702)!.status).toBe('solved');
  expect(z.notes(702)[0]).not.toMatch(/refused/);
});
