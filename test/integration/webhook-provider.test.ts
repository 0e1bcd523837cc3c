import { randomBytes, randomUUID } from 'node:crypto';
import { RateLimitedError } from '../../src/records/errors';
import { Webhook } from 'standardwebhooks';
import { freePort } from '../helpers/net';
import { WebhookBillingProvider, checkStandardWebhook, signStandardWebhook, verifyStandardWebhook } from '../../src/integrations/billing/webhook.provider';
import { WEBHOOK_EVENT_SCHEMAS, WEBHOOK_EVENT_TYPES, webhookEventBody } from '../../src/integrations/billing/webhook.events';
import { retryAfterMs } from '../../src/integrations/http/retry-after';
import { AppError } from '../../src/records/errors';
import { money } from '../../src/records/money';
import type { BillingAdjustment } from '../../src/records/ports';
import { WebhookReceiver } from '../helpers/webhook-receiver';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
let receiver: WebhookReceiver;

const makeProvider = (over: Partial<ConstructorParameters<typeof WebhookBillingProvider>[0]> = {}) =>
  new WebhookBillingProvider({ url: receiver.url, secret: SECRET, timeoutMs: 2000, ...over });

beforeEach(async () => {
  receiver = await WebhookReceiver.start({ secret: SECRET });
});
afterEach(async () => {
  await receiver.close();
});

function buildAdjustment(over: Partial<BillingAdjustment> = {}): BillingAdjustment {
  const recordId = randomUUID();
  return {
    idempotencyKey: `billing.${recordId}.apply`,
    recordId,
    accountId: 'acc_hook',
    billingCustomerId: 'cust-881',
    kind: 'service_credit',
    subtype: 'sla_breach',
    currency: 'EUR',
    effect: {
      type: 'credit',
      amount: money(2500, 'EUR'),
      period_start: '2026-11-01T00:00:00.000Z',
      period_end: '2026-11-02T00:00:00.000Z',
      paid_invoice: 'credit',
    },
    phase: 'apply',
    effectiveAt: null,
    termEnd: '2026-12-01T00:00:00.000Z',
    description: `service_credit sla_breach (record ${recordId})`,
    ...over,
  };
}

const failure = async (p: Promise<unknown>): Promise<AppError> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
};

describe('Standard Webhooks signatures', () => {
  it("reproduces the specification's published test vector", () => {
    const vector = {
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: 1614265330,
      body: '{"test": 2432232314}',
    };
    const signature = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
    expect(signStandardWebhook(vector.secret, vector.id, vector.timestamp, vector.body)).toBe(signature);
    const input = {
      secret: vector.secret,
      id: vector.id,
      timestamp: String(vector.timestamp),
      signatureHeader: signature,
      body: vector.body,
      nowSeconds: vector.timestamp + 10,
    };
    expect(verifyStandardWebhook(input)).toBe(true);
    // Secret pasted without its prefix, and a rotation header listing an old signature first.
    expect(verifyStandardWebhook({ ...input, secret: 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' })).toBe(true);
    expect(verifyStandardWebhook({ ...input, signatureHeader: `v1,bm90IHRoaXMgb25l ${signature}` })).toBe(true);
    expect(verifyStandardWebhook({ ...input, secret: [SECRET, vector.secret] })).toBe(true);
  });

  it('refuses a changed body, id or timestamp, an old or future timestamp, and missing headers', () => {
    const ts = 1_800_000_000;
    const body = '{"a":1}';
    const sig = signStandardWebhook(SECRET, 'msg_1', ts, body);
    const base = { secret: SECRET, id: 'msg_1', timestamp: String(ts), signatureHeader: sig, body, nowSeconds: ts };
    expect(checkStandardWebhook(base)).toEqual({ ok: true });
    expect(checkStandardWebhook({ ...base, body: '{"a":2}' })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(checkStandardWebhook({ ...base, id: 'msg_2' })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(checkStandardWebhook({ ...base, secret: `whsec_${randomBytes(32).toString('base64')}` })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(checkStandardWebhook({ ...base, signatureHeader: sig.replace('v1,', 'v1a,') })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(checkStandardWebhook({ ...base, nowSeconds: ts + 301 })).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(checkStandardWebhook({ ...base, nowSeconds: ts - 301 })).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(checkStandardWebhook({ ...base, timestamp: `${ts}.5` })).toEqual({ ok: false, reason: 'bad_timestamp' });
    expect(checkStandardWebhook({ ...base, signatureHeader: undefined })).toEqual({ ok: false, reason: 'missing_headers' });
  });

  it("sends deliveries the specification's reference receiver accepts", async () => {
    await makeProvider().applyAdjustment(buildAdjustment());
    const d = receiver.deliveries[0]!;
    const headers = { 'webhook-id': d.id!, 'webhook-timestamp': d.timestamp!, 'webhook-signature': d.signature! };
    // The reference library's own verify (its clock is the real one, as the delivery's was).
    expect(new Webhook(SECRET).verify(d.body, headers)).toMatchObject({ type: 'lifecycle.credit_granted' });
    expect(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(d.body, headers)).toThrow(/No matching signature/);
  });

  it('a malformed secret is refused when the provider is built', () => {
    expect(() => makeProvider({ secret: 'whsec_not base64!' })).toThrow(/"whsec_" followed by base64/);
  });
});

describe('delivering adjustments', () => {
  it('POSTs the signed event; the receiver verifies it and its reference becomes the providerRef, the amount sent is confirmed', async () => {
    const now = new Date();
    const adj = buildAdjustment({
      kind: 'termination',
      subtype: 'customer_initiated',
      currency: 'JPY',
      idempotencyKey: `billing.${randomUUID()}.fee`,
      effect: { type: 'fee', amount: money(50_000, 'JPY') },
    });

    const result = await makeProvider({ now: () => now }).applyAdjustment(adj);

    expect(result).toEqual({ providerRef: 'webhook:adj_1', money: [{ type: 'charge', purpose: 'fee', amount: money(50_000, 'JPY'), destination: 'invoice' }] });
    const [d] = receiver.deliveries;
    expect(d).toMatchObject({ id: adj.idempotencyKey, timestamp: String(Math.floor(now.getTime() / 1000)), check: { ok: true }, status: 200 });
    expect(d!.signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(JSON.parse(d!.body)).toEqual({
      type: 'lifecycle.fee_charged',
      data: {
        idempotency_key: adj.idempotencyKey,
        record_id: adj.recordId,
        account_id: 'acc_hook',
        billing_customer_id: 'cust-881',
        kind: 'termination',
        subtype: 'customer_initiated',
        effective_at: null,
        description: adj.description,
        amount: { amount_minor: 50_000, currency: 'JPY' },
      },
    });
    expect(d!.body).toBe(webhookEventBody(adj));
  });

  it('every effect has its own event type, and each body matches its published schema', () => {
    const effects = [
      {
        type: 'plan_change',
        to_plan: 'business',
        from_plan: 'growth',
        prorate: true,
        at: '2026-11-20T00:00:00.000Z',
        price: money(29900, 'EUR'),
        proration: { credit: money(-100, 'EUR'), charge: money(300, 'EUR'), net: money(200, 'EUR') },
      },
      { type: 'credit', amount: money(100, 'EUR'), period_start: '2026-11-01T00:00:00.000Z', period_end: '2026-11-02T00:00:00.000Z', paid_invoice: 'refund' },
      { type: 'fee', amount: money(100, 'EUR') },
      { type: 'refund', amount: money(100, 'EUR') },
      { type: 'cancel', mode: 'at', at: '2026-12-01T00:00:00.000Z' },
      { type: 'pause', resumes_at: null },
      { type: 'resume', plan: 'growth', price: null },
      { type: 'merge', target_account_id: 'acc_b', target_customer_id: null },
      {
        type: 'void',
        original_record_id: 'rec-original',
        original_key: 'billing.rec-original.apply',
        original_ref: 'webhook:ref-1',
        money: [{ type: 'credit', purpose: 'service_credit', amount: money(100, 'EUR'), destination: 'balance' }],
      },
    ] as const;
    const types = effects.map((effect) => {
      const body = JSON.parse(webhookEventBody(buildAdjustment({ effect })));
      expect(WEBHOOK_EVENT_SCHEMAS[body.type as keyof typeof WEBHOOK_EVENT_SCHEMAS].safeParse(body).success).toBe(true);
      return body.type as string;
    });
    expect(new Set(types).size).toBe(effects.length);
    expect(types.sort()).toEqual(Object.values(WEBHOOK_EVENT_TYPES).sort());
  });

  it('the amount the receiver says it applied is the one confirmed', async () => {
    receiver.confirmAmount.set('lifecycle.credit_granted', 2000);
    expect((await makeProvider().applyAdjustment(buildAdjustment())).money).toEqual([
      { type: 'credit', purpose: 'service_credit', amount: money(2000, 'EUR'), destination: 'balance' },
    ]);
  });

  it('without a reference in the answer, the webhook id is the providerRef', async () => {
    const adj = buildAdjustment({ kind: 'status_change', subtype: 'suspension', effect: { type: 'pause', resumes_at: null } });
    receiver.respondWith({ status: 202, body: '' });
    expect(await makeProvider().applyAdjustment(adj)).toEqual({ providerRef: `webhook:${adj.idempotencyKey}`, money: [] });
    expect(JSON.parse(receiver.deliveries[0]!.body)).toMatchObject({ type: 'lifecycle.collection_paused', data: { resumes_at: null } });
  });

  it('a retry after a lost answer carries the same id and body; the receiver dedupes it and applies once', async () => {
    const adj = buildAdjustment();
    let clock = Date.parse('2026-11-22T10:00:00Z');
    receiver = await (async () => {
      await receiver.close();
      return WebhookReceiver.start({ secret: SECRET, nowSeconds: () => Math.floor(clock / 1000) });
    })();
    const provider = makeProvider({ now: () => new Date(clock) });
    receiver.respondWith({ status: 500, afterApply: true });

    expect(await failure(provider.applyAdjustment(adj))).toMatchObject({ retryable: true, options: { details: { status: 500 } } });
    clock += 60_000;
    expect(await provider.applyAdjustment(adj)).toMatchObject({ providerRef: 'webhook:adj_1' });

    const [first, second] = receiver.deliveries;
    expect(second!.id).toBe(first!.id);
    expect(second!.body).toBe(first!.body);
    expect(Number(second!.timestamp) - Number(first!.timestamp)).toBe(60);
    expect(receiver.applied.size).toBe(1);
    expect(receiver.duplicates.get(adj.idempotencyKey)).toBe(1);
  });

  it('a timeout is retryable, and the retry is recognised as a duplicate', async () => {
    const adj = buildAdjustment();
    receiver.respondWith({ delayMs: 1000 });
    const err = await failure(makeProvider({ timeoutMs: 200 }).applyAdjustment(adj));
    expect(err).toMatchObject({ retryable: true });
    expect(err.message).toMatch(/billing webhook timed out after 200 ms/);
    await makeProvider().applyAdjustment(adj);
    expect(receiver.applied.size).toBe(1);
    expect(receiver.totalDuplicates()).toBe(1);
  });

  it('5xx, 408 and 429 are retryable and pass Retry-After on; nothing is applied', async () => {
    const provider = makeProvider();
    receiver.respondWith({ status: 503, retryAfter: '7' }, { status: 502 }, { status: 408 }, { status: 429, retryAfter: 'Wed, 21 Oct 2099 07:28:00 GMT' });

    const e503 = await failure(provider.applyAdjustment(buildAdjustment()));
    expect(e503).toMatchObject({ retryable: true, options: { details: { status: 503, retry_after: '7', retry_after_ms: 7000 } } });
    expect(e503.message).toMatch(/^billing webhook answered 503 \(retry after 7 s\)/);
    expect(await failure(provider.applyAdjustment(buildAdjustment()))).toMatchObject({ retryable: true, options: { details: { status: 502 } } });
    expect(await failure(provider.applyAdjustment(buildAdjustment()))).toMatchObject({ retryable: true, options: { details: { status: 408 } } });
    // A 429 is the queue's to wait out (no attempt spent): a RateLimitedError with the Retry-After.
    const e429 = await failure(provider.applyAdjustment(buildAdjustment()));
    expect(e429).toBeInstanceOf(RateLimitedError);
    expect(e429).toMatchObject({ system: 'billing', retryable: true });
    expect((e429 as RateLimitedError).retryAfterMs).toBeGreaterThan(0);
    expect(receiver.applied.size).toBe(0);
  });

  it('other 4xx are final: validation errors, a gone endpoint, a redirect (not followed), a wrong secret', async () => {
    const provider = makeProvider();
    receiver.respondWith(
      { status: 422, body: '{"error":"unknown customer for ops@customer.example"}' },
      { status: 400 },
      { status: 410 },
      { status: 301, location: 'http://127.0.0.1:1/elsewhere' },
    );
    const e422 = await failure(provider.applyAdjustment(buildAdjustment()));
    expect(e422).toMatchObject({ retryable: false, options: { details: { status: 422 } } });
    expect(e422.message).toMatch(/^billing webhook answered 422: \{"error":"unknown customer for \[redacted email\]"\}/);
    expect(await failure(provider.applyAdjustment(buildAdjustment()))).toMatchObject({ retryable: false, options: { details: { status: 400 } } });
    expect((await failure(provider.applyAdjustment(buildAdjustment()))).message).toMatch(/answered 410 \(the receiver no longer accepts adjustments/);
    expect((await failure(provider.applyAdjustment(buildAdjustment()))).message).toMatch(/answered 301 \(redirects are not followed/);

    const otherSecret = `whsec_${randomBytes(32).toString('base64')}`;
    const wrong = await failure(makeProvider({ secret: otherSecret }).applyAdjustment(buildAdjustment()));
    expect(wrong).toMatchObject({ retryable: false, options: { details: { status: 401 } } });
    expect(wrong.message).toMatch(/check that BILLING_WEBHOOK_SECRET matches/);
    expect(wrong.message).not.toContain(otherSecret.slice(6, 20));
    expect(receiver.deliveries.at(-1)!.check).toEqual({ ok: false, reason: 'bad_signature' });
    expect(receiver.applied.size).toBe(0);
  });

  it('an unreachable receiver is retryable, and the URL path (which may hold a token) stays out of the message', async () => {
    const port = await freePort();
    const err = await failure(makeProvider({ url: `http://127.0.0.1:${port}/hooks/secret-token-123` }).applyAdjustment(buildAdjustment()));
    expect(err).toMatchObject({ retryable: true });
    expect(err.message).toMatch(/could not be reached \(ECONNREFUSED\)/);
    expect(err.message).not.toContain('secret-token-123');
  });

  it('many adjustments through scripted failures: each applied exactly once', async () => {
    const provider = makeProvider({ timeoutMs: 300 });
    const adjs = Array.from({ length: 10 }, () => buildAdjustment());
    receiver.respondWith(
      { status: 500 },
      { status: 503, afterApply: true },
      { delayMs: 600 },
      { status: 429, retryAfter: '1' },
      { status: 500, afterApply: true },
      { status: 504 },
    );
    for (const adj of adjs) {
      for (let attempt = 1; ; attempt++) {
        try {
          await provider.applyAdjustment(adj);
          break;
        } catch (e) {
          expect((e as AppError).retryable).toBe(true);
          expect(attempt).toBeLessThan(10);
        }
      }
    }
    expect(receiver.applied.size).toBe(10);
    expect([...receiver.applied.keys()].sort()).toEqual(adjs.map((a) => a.idempotencyKey).sort());
    expect(receiver.totalDuplicates()).toBeGreaterThanOrEqual(2);
  });
});

it('Retry-After is read as seconds or as an HTTP date', () => {
  const now = new Date('2026-11-22T10:00:00Z');
  expect(retryAfterMs('120', now)).toBe(120_000);
  expect(retryAfterMs('Sun, 22 Nov 2026 10:00:30 GMT', now)).toBe(30_000);
  expect(retryAfterMs('soon', now)).toBeNull();
  expect(retryAfterMs(null, now)).toBeNull();
});
