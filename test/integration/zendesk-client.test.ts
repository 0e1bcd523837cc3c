import { ZendeskClient } from '../../src/integrations/zendesk/zendesk.client';
import { ZendeskStandin } from '../../devtools/zendesk.standin';
import { AppError, RateLimitedError } from '../../src/records/errors';

let z: ZendeskStandin;
const client = (over: Partial<ConstructorParameters<typeof ZendeskClient>[0]> = {}) =>
  new ZendeskClient({ baseUrl: z.apiUrl, email: 'bot@support.example', apiToken: 'zd-token', ...over });

beforeAll(async () => {
  z = await ZendeskStandin.start({ email: 'bot@support.example', token: 'zd-token' });
  z.users.set(1, { id: 1, name: 'Olga Ops', email: 'Ops@Acme.example' });
  z.users.set(2, { id: 2, name: 'Agent Smith', email: 'agent@support.example' });
  z.addTicket({
    id: 101,
    requester_id: 1,
    assignee_id: 2,
    tags: ['lifecycle_request', 'lifecycle_draft'],
    custom_fields: [
      { id: 360001000001, value: 'lc_upgrade' },
      { id: 360001000010, value: ['lc_sso', 'lc_api'] },
    ],
  });
});
afterAll(async () => {
  await z.close();
});
beforeEach(() => {
  z.requests.length = 0;
});

it('reads a ticket with its requester and agent through the users sideload', async () => {
  const t = await client().getTicket('101');
  expect(z.requests[0]).toMatchObject({ method: 'GET', path: '/api/v2/tickets/101.json', query: '?include=users', status: 200 });
  expect(t).toMatchObject({
    id: '101',
    tags: ['lifecycle_request', 'lifecycle_draft'],
    requester: { email: 'ops@acme.example', name: 'Olga Ops' },
    assignee_email: 'agent@support.example',
  });
  expect(t.fields.get('360001000010')).toEqual(['lc_sso', 'lc_api']);
});

it('updates a ticket in one PUT: private note, tags added and removed, status', async () => {
  await client().updateTicket('101', {
    internalNote: 'Record abc is approved',
    addTags: ['lifecycle_approved'],
    removeTags: ['lifecycle_draft'],
    status: 'solved',
  });
  expect(z.requests).toHaveLength(1);
  expect(z.requests[0]).toMatchObject({
    method: 'PUT',
    path: '/api/v2/tickets/101.json',
    status: 200,
    body: {
      ticket: {
        comment: { body: 'Record abc is approved', public: false },
        additional_tags: ['lifecycle_approved'],
        remove_tags: ['lifecycle_draft'],
        status: 'solved',
      },
    },
  });
  const t = z.tickets.get(101)!;
  expect(t.tags).toEqual(['lifecycle_request', 'lifecycle_approved']);
  expect(z.notes(101)).toEqual(['Record abc is approved']);
});

it('never waits on a 429: it gives the Retry-After back to the job as a RateLimitedError, after one request', async () => {
  z.failNext({ status: 429, retryAfter: 7 }, 1);
  const t0 = Date.now();
  const err = (await client({ maxAttempts: 4 })
    .updateTicket('101', { addTags: ['x1'] })
    .catch((e: unknown) => e)) as RateLimitedError;
  expect(err).toBeInstanceOf(RateLimitedError);
  expect(err).toMatchObject({ system: 'zendesk', retryAfterMs: 7000, retryable: true });
  expect(z.requests.map((r) => r.status)).toEqual([429]);
  // Not a timing assertion on speed: a client that slept the 7 s would take that long.
  expect(Date.now() - t0).toBeLessThan(7000);
});

it('a 429 without Retry-After still comes back at once, with a default delay for the queue', async () => {
  z.failNext({ status: 429 }, 1);
  const err = (await client()
    .updateTicket('101', { addTags: ['x0'] })
    .catch((e: unknown) => e)) as RateLimitedError;
  expect(err).toBeInstanceOf(RateLimitedError);
  expect(err.retryAfterMs).toBeGreaterThan(0);
  expect(z.requests.map((r) => r.status)).toEqual([429]);
});

it('retries 5xx at once within its attempts, and 502 is not mistaken for success', async () => {
  z.failNext({ status: 502 }, 1);
  z.failNext({ status: 500 }, 1);
  await client({ maxAttempts: 3 }).updateTicket('101', { addTags: ['x2'] });
  expect(z.requests.map((r) => r.status)).toEqual([502, 500, 200]);
  expect(z.tickets.get(101)!.tags).toContain('x2');
});

it('gives a retryable failure back to the job after its attempts, without credentials in the message', async () => {
  z.failNext({ status: 503 }, 4);
  const err = (await client({ maxAttempts: 4 })
    .updateTicket('101', { addTags: ['x3'] })
    .catch((e: unknown) => e)) as AppError;
  expect(err).toBeInstanceOf(AppError);
  expect(err.retryable).toBe(true);
  expect(err.message).toMatch(/failed after 4 attempts: Zendesk answered 503/);
  expect(err.message).not.toMatch(/zd-token|bot@support/);
});

it('does not retry a 404 or a request Zendesk refuses as invalid', async () => {
  const nf = (await client()
    .getTicket('999')
    .catch((e: unknown) => e)) as AppError;
  expect(nf).toMatchObject({ code: 'provider_failed', retryable: false, message: expect.stringMatching(/ticket 999 read: not found/) });
  const invalid = (await client()
    .updateTicket('101', { addTags: ['has space'] })
    .catch((e: unknown) => e)) as AppError;
  expect(invalid.retryable).toBe(false);
  expect(invalid.message).toMatch(/422/);
});

it('is refused by the stand-in with the wrong credentials (401, not retried)', async () => {
  const err = (await client({ apiToken: 'wrong' })
    .getTicket('101')
    .catch((e: unknown) => e)) as AppError;
  expect(err.retryable).toBe(false);
  expect(z.requests[0]!.status).toBe(401);
  expect(z.requests).toHaveLength(1);
});
