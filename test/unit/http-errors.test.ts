import Fastify from 'fastify';
import { errorHandler } from '../../src/http/errors';
import { AppError } from '../../src/records/errors';

/** What a webhook sender sees for each kind of failure: 503s always say when to retry (Zendesk retries only those). */
async function replyTo(error: Error) {
  const app = Fastify({ logger: false });
  app.setErrorHandler(errorHandler);
  app.post('/x', async () => {
    throw error;
  });
  const res = await app.inject({ method: 'POST', url: '/x', payload: {} });
  await app.close();
  return { status: res.statusCode, retryAfter: res.headers['retry-after'], body: res.json() as { error: { code: string; message: string } } };
}

it.each([
  ['a deadlock', Object.assign(new Error('deadlock detected'), { code: '40P01' })],
  ['a serialization failure', Object.assign(new Error('could not serialize access'), { code: '40001' })],
  ['a statement timeout', Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' })],
  ['an unreachable database', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
  ['a full intake queue', new AppError('unavailable', 'Too many webhook deliveries are waiting; retry shortly', { retryable: true })],
  // node-postgres, after the connection under a transaction dropped (PostgreSQL restarted or killed it).
  ['a dropped connection', new Error('Client has encountered a connection error and is not queryable')],
  ['a closed client', new Error('Client was closed and is not queryable')],
  ['a connection that ended', new Error('Connection terminated unexpectedly')],
  ['an administrator shutdown', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })],
])('%s is a 503 with Retry-After and a JSON error', async (_what, error) => {
  const r = await replyTo(error);
  expect(r.status).toBe(503);
  expect(r.retryAfter).toBe('5');
  expect(r.body.error.code).toBe('unavailable');
});

it('a programming error stays a 500 without Retry-After and without its message', async () => {
  const r = await replyTo(new TypeError('cannot read properties of undefined (secret detail)'));
  expect(r.status).toBe(500);
  expect(r.retryAfter).toBeUndefined();
  expect(r.body.error.message).not.toContain('secret');
});

it.each([
  ['a year PostgreSQL cannot store', '22008', 'date/time field value out of range: "0000-01-01T00:00:00.000Z"'],
  ['text PostgreSQL cannot store', '22P05', 'unsupported Unicode escape sequence'],
  ['a NUL byte', '22021', 'invalid byte sequence for encoding "UTF8": 0x00'],
])("%s (a data exception from the request's own value) is a 422 naming it, not a 500", async (_what, code, message) => {
  const r = await replyTo(Object.assign(new Error(message), { code }));
  expect(r.status).toBe(422);
  expect(r.body.error.code).toBe('validation_failed');
  expect(r.body.error.message).toContain(message);
});
