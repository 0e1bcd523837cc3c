import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

/**
 * A local stand-in for the part of Stripe's v1 API the Stripe billing adapter uses, reached
 * through the official SDK. It checks each request the way Stripe's API reference says (Bearer
 * secret key, Stripe-Version, form-encoded bodies in bracket notation, known parameters only,
 * required parameters, lower-case currencies, metadata limits, POST-only idempotency), implements
 * v1 idempotency (same key and same parameters → the first response replayed with
 * `Idempotent-Replayed: true`; same key and other parameters → 400 idempotency_error), models the
 * objects billing touches — customers and their balance, subscriptions (items, cancellation,
 * `pause_collection`), invoices (draft → finalize → open/paid, the customer balance applied at
 * finalization), invoice items (pending prorations, one-off items), credit notes (pre/post-payment
 * split, `credit_amount`, `refund_amount`), refunds and invoice previews — and refuses what Stripe
 * refuses. It keeps a clock that tests can move (cancellations, resumed collection, renewals),
 * counts effects per idempotency key, fails on request, and sends signed
 * `customer.subscription.*` events to a webhook endpoint, as Stripe does.
 */

export interface FakePrice {
  readonly id: string;
  readonly currency: string;
  readonly unit_amount: number;
  readonly interval: 'month' | 'year';
}

export interface FakeCustomer {
  readonly id: string;
  currency: string | null;
  /** Balance in `currency` (negative = credit the customer has), as Stripe's `balance`. */
  balance: number;
  /** Per currency, as Stripe's `invoice_credit_balance`. */
  readonly balances: Record<string, number>;
}

export type SubscriptionStatus = 'active' | 'trialing' | 'past_due' | 'canceled' | 'incomplete' | 'unpaid' | 'paused';

export interface FakeSubscription {
  readonly id: string;
  readonly customer: string;
  status: SubscriptionStatus;
  readonly currency: string;
  cancel_at_period_end: boolean;
  /** A set cancellation instant (unix seconds), or null. */
  cancel_at: number | null;
  canceled_at: number | null;
  pause_collection: { behavior: 'keep_as_draft' | 'mark_uncollectible' | 'void'; resumes_at: number | null } | null;
  current_period_start: number;
  current_period_end: number;
  readonly items: { readonly id: string; price: string; readonly quantity: number }[];
  readonly metadata: Record<string, string>;
  readonly created: number;
}

export interface FakeBalanceTransaction {
  readonly id: string;
  readonly customer: string;
  readonly amount: number;
  readonly currency: string;
  readonly description: string | null;
  readonly ending_balance: number;
  readonly metadata: Record<string, string>;
  readonly type: 'adjustment' | 'credit_note' | 'applied_to_invoice';
  readonly credit_note: string | null;
  readonly invoice: string | null;
  readonly created: number;
}

export interface FakeInvoiceItem {
  readonly id: string;
  readonly customer: string;
  invoice: string | null;
  readonly subscription: string | null;
  readonly subscription_item: string | null;
  readonly amount: number;
  readonly currency: string;
  readonly description: string | null;
  readonly proration: boolean;
  readonly period: { start: number; end: number };
  readonly metadata: Record<string, string>;
  readonly price: string | null;
  readonly created: number;
}

export interface FakeInvoice {
  readonly id: string;
  readonly customer: string;
  readonly subscription: string | null;
  status: 'draft' | 'open' | 'paid' | 'void' | 'uncollectible';
  readonly currency: string;
  /** Subscription lines (the period billed) and invoice items. */
  readonly lines: {
    id: string;
    amount: number;
    description: string | null;
    period: { start: number; end: number };
    subscription_item: string | null;
    invoice_item: string | null;
    proration: boolean;
    metadata: Record<string, string>;
  }[];
  total: number;
  amount_due: number;
  amount_paid: number;
  amount_remaining: number;
  starting_balance: number;
  pre_payment_credit_notes_amount: number;
  post_payment_credit_notes_amount: number;
  readonly metadata: Record<string, string>;
  readonly description: string | null;
  readonly collection_method: string;
  auto_advance: boolean;
  readonly created: number;
}

export interface FakeCreditNote {
  readonly id: string;
  readonly customer: string;
  readonly invoice: string;
  readonly currency: string;
  readonly amount: number;
  readonly pre_payment_amount: number;
  readonly post_payment_amount: number;
  readonly out_of_band_amount: number;
  readonly refunds: { refund: string; amount_refunded: number }[];
  readonly customer_balance_transaction: string | null;
  readonly memo: string | null;
  readonly metadata: Record<string, string>;
  readonly created: number;
}

export interface FakeRefund {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly invoice: string;
  readonly credit_note: string;
}

export interface FakeStripeRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, unknown>;
  readonly params: Record<string, unknown>;
  readonly idempotencyKey: string | null;
  readonly stripeVersion: string | null;
  readonly status: number;
  readonly replayed: boolean;
  readonly fault: Fault['type'] | null;
}

export type Fault =
  /** 500 api_error before the idempotency layer: nothing happens and nothing is remembered. */
  | { readonly type: 'api_error' }
  /** 429 rate_limit_error (the limiter runs before the idempotency layer, as at Stripe). */
  | { readonly type: 'rate_limit'; readonly retryAfterSeconds?: number }
  /** 400 invalid_request_error, as for a request Stripe will not take. */
  | { readonly type: 'invalid_request'; readonly message?: string; readonly param?: string; readonly code?: string }
  /** Processed and remembered at once, answered late: a client timeout with the effect done. */
  | { readonly type: 'slow'; readonly delayMs: number }
  /** Processed and remembered, then a 500 answered: the response lost on the way back. */
  | { readonly type: 'lost' };

interface Injection {
  readonly fault: Fault;
  remaining: number;
  readonly method?: string;
  readonly path?: RegExp;
}

interface Stored {
  readonly fingerprint: string;
  readonly status: number;
  readonly body: unknown;
  readonly requestId: string;
}

type Reply = { status: number; body: unknown; effect?: boolean };

/** A request Stripe refuses: never remembered under the key when refused before processing. */
class RefusedRequest extends Error {
  constructor(
    readonly status: number,
    readonly error: Record<string, unknown>,
  ) {
    super(String(error.message));
  }
}

const invalid = (message: string, param?: string, status = 400) =>
  new RefusedRequest(status, { type: 'invalid_request_error', message, ...(param ? { param } : {}) });
/** A refusal after the parameters were accepted (Stripe remembers these under the key). */
const refusal = (message: string, param?: string): Reply => ({
  status: 400,
  body: { error: { type: 'invalid_request_error', message, ...(param ? { param } : {}) } },
});
const missing = (what: string, id: string, param: string): Reply => ({
  status: 404,
  body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${what}: '${id}'`, param } },
});

const newId = (prefix: string) => `${prefix}_${randomBytes(8).toString('hex')}`;
const DAY = 86_400;

/**
 * Stripe's form encoding → nested objects: `items[0][price]=p` → `{ items: [{ price: 'p' }] }`.
 * Objects whose keys are all indices become arrays.
 */
export function parseStripeForm(body: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(key);
    if (!m) throw invalid(`Invalid parameter name: ${key}`);
    const path = [m[1]!, ...[...m[2]!.matchAll(/\[([^[\]]*)\]/g)].map((x) => x[1]!)];
    let node = root;
    path.forEach((seg, i) => {
      if (i === path.length - 1) node[seg] = value;
      else {
        const next = node[seg];
        if (next === undefined || typeof next === 'string') node[seg] = {};
        node = node[seg] as Record<string, unknown>;
      }
    });
  }
  const arrays = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) return keys.sort((a, b) => Number(a) - Number(b)).map((k) => arrays(o[k]));
    return Object.fromEntries(keys.map((k) => [k, arrays(o[k])]));
  };
  return arrays(root) as Record<string, unknown>;
}

const canonical = (v: unknown): string =>
  typeof v !== 'object' || v === null
    ? JSON.stringify(v)
    : Array.isArray(v)
      ? `[${v.map(canonical).join(',')}]`
      : `{${Object.keys(v)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
          .join(',')}}`;

function onlyKnown(params: Record<string, unknown>, known: readonly string[], prefix = ''): void {
  for (const k of Object.keys(params)) {
    if (!known.includes(k)) throw invalid(`Received unknown parameter: ${prefix ? `${prefix}[${k}]` : k}`, prefix ? `${prefix}[${k}]` : k);
  }
}

const PAGINATION = ['limit', 'starting_after', 'ending_before', 'expand'];

function integer(v: unknown, param: string): number {
  if (typeof v !== 'string' || !/^-?\d+$/.test(v)) throw invalid(`Invalid integer: ${String(v)}`, param);
  return Number(v);
}

function positive(v: unknown, param: string): number {
  const n = integer(v, param);
  if (n < 0) throw invalid(`Invalid ${param}: must be greater than or equal to 0`, param);
  return n;
}

function bool(v: unknown, param: string): boolean {
  if (v !== 'true' && v !== 'false') throw invalid(`Invalid boolean: ${String(v)}`, param);
  return v === 'true';
}

function currencyOf(v: unknown, param = 'currency'): string {
  const c = String(v);
  if (!/^[a-z]{3}$/.test(c)) throw invalid(`Invalid currency: ${c}. Stripe currencies are three-letter ISO codes in lower case.`, param);
  return c;
}

function required(params: Record<string, unknown>, name: string): unknown {
  if (params[name] === undefined || params[name] === '') throw invalid(`Missing required param: ${name}.`, name);
  return params[name];
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], param: string): T {
  if (!allowed.includes(v as T)) throw invalid(`Invalid ${param}: must be one of ${allowed.join(', ')}`, param);
  return v as T;
}

function metadata(v: unknown, param = 'metadata'): Record<string, string> {
  if (v === undefined || v === '') return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid('Invalid metadata: must be a hash', param);
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > 50) throw invalid('Invalid metadata: at most 50 keys', param);
  for (const [k, val] of entries) {
    if (k.length > 40) throw invalid(`Invalid metadata: key "${k}" is longer than 40 characters`, `${param}[${k}]`);
    if (typeof val !== 'string') throw invalid(`Invalid metadata: value of "${k}" must be a string`, `${param}[${k}]`);
    if (val.length > 500) throw invalid(`Invalid metadata: value of "${k}" is longer than 500 characters`, `${param}[${k}]`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function text(v: unknown, param: string, max: number): string | null {
  if (v === undefined) return null;
  const s = String(v);
  if (s.length > max) throw invalid(`Invalid ${param}: must be at most ${max} characters`, param);
  return s;
}

function limit(query: Record<string, unknown>): number {
  if (query.limit === undefined) return 10;
  const n = integer(query.limit, 'limit');
  if (n < 1 || n > 100) throw invalid('This value must be between 1 and 100.', 'limit');
  return n;
}

/** A Stripe list page: newest first, `starting_after` continues after an id. */
function page<T extends { id: string }>(all: T[], query: Record<string, unknown>, url: string, json: (t: T) => unknown): Reply {
  const n = limit(query);
  let from = 0;
  if (query.starting_after !== undefined) {
    const i = all.findIndex((t) => t.id === query.starting_after);
    if (i < 0) throw invalid(`No such object: '${String(query.starting_after)}'`, 'starting_after');
    from = i + 1;
  }
  const slice = all.slice(from, from + n);
  return { status: 200, body: { object: 'list', data: slice.map(json), has_more: all.length > from + n, url } };
}

export interface WebhookEndpoint {
  readonly url: string;
  readonly secret: string;
}

export interface EventDelivery {
  readonly id: string;
  readonly type: string;
  readonly status: number | null;
  readonly attempt: number;
}

export class FakeStripe {
  readonly customers = new Map<string, FakeCustomer>();
  readonly prices = new Map<string, FakePrice>();
  readonly subscriptions = new Map<string, FakeSubscription>();
  readonly balanceTransactions: FakeBalanceTransaction[] = [];
  readonly invoices = new Map<string, FakeInvoice>();
  readonly invoiceItems: FakeInvoiceItem[] = [];
  readonly creditNotes: FakeCreditNote[] = [];
  readonly refunds: FakeRefund[] = [];
  readonly requests: FakeStripeRequest[] = [];
  readonly eventDeliveries: EventDelivery[] = [];
  /** Writes executed (not replayed) per Idempotency-Key; `<METHOD> <path>` for writes sent without one. */
  readonly effects = new Map<string, number>();
  /** Where `customer.subscription.*` events go, signed with the endpoint's secret. */
  webhook: WebhookEndpoint | null = null;
  private readonly idempotency = new Map<string, Stored>();
  private readonly injections: Injection[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pendingEvents = new Set<Promise<void>>();
  private readonly undelivered: { id: string; type: string }[] = [];
  private clockOffset = 0;

  private constructor(
    private readonly server: Server,
    readonly apiKey: string,
    readonly port: number,
  ) {}

  /**
   * Stripe's per-account request rate limit (live mode 100/s, test mode 25/s), when set: a token
   * bucket holding one second of requests; a request over it gets 429 rate_limit_error with
   * Retry-After, before the idempotency layer (nothing happens, nothing is remembered).
   */
  private rateLimit: { perSecond: number; tokens: number; at: number } | null = null;
  /** Requests answered 429 by the rate limit (not counting injected faults). */
  rateLimited = 0;

  /** Turns the request rate limit on (requests per second) or off (null). */
  limitRate(perSecond: number | null): void {
    this.rateLimit = perSecond ? { perSecond, tokens: perSecond, at: Date.now() } : null;
  }

  /** Takes a token, or says how many ms until one is free. */
  private takeToken(): number {
    const rl = this.rateLimit;
    if (!rl) return 0;
    const now = Date.now();
    rl.tokens = Math.min(rl.perSecond, rl.tokens + ((now - rl.at) / 1000) * rl.perSecond);
    rl.at = now;
    if (rl.tokens >= 1) {
      rl.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - rl.tokens) / rl.perSecond) * 1000);
  }

  static async start(opts: { apiKey?: string; rateLimitPerSecond?: number } = {}): Promise<FakeStripe> {
    const holder: { s?: FakeStripe } = {};
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => holder.s!.handle(req, Buffer.concat(chunks).toString('utf8'), res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    holder.s = new FakeStripe(server, opts.apiKey ?? `sk_test_${randomBytes(12).toString('hex')}`, (server.address() as AddressInfo).port);
    if (opts.rateLimitPerSecond) holder.s.limitRate(opts.rateLimitPerSecond);
    return holder.s;
  }

  /** SDK settings that point `new Stripe(…)` (or the adapter) here. */
  get sdkOptions(): { host: string; port: number; protocol: 'http' } {
    return { host: '127.0.0.1', port: this.port, protocol: 'http' };
  }

  /** Stripe's clock (unix seconds): real time, moved on by {@link advance}. */
  now(): number {
    return Math.floor(Date.now() / 1000) + this.clockOffset;
  }

  addPrice(p: FakePrice): FakePrice {
    this.prices.set(p.id, p);
    return p;
  }

  addCustomer(c: { id?: string; currency?: string | null } = {}): FakeCustomer {
    const customer: FakeCustomer = { id: c.id ?? newId('cus'), currency: c.currency ?? null, balance: 0, balances: {} };
    this.customers.set(customer.id, customer);
    return customer;
  }

  /**
   * A subscription on one price, in the middle of its period (so a price change prorates), with
   * the period's invoice paid (or left open, or none at all). `period` places it: by default it
   * began 15 days ago and ends in 15.
   */
  addSubscription(s: {
    customer: string;
    price: string;
    status?: SubscriptionStatus;
    id?: string;
    invoice?: 'paid' | 'open' | 'none';
    period?: { start: number; end: number };
    extraPrices?: readonly string[];
  }): FakeSubscription {
    const price = this.prices.get(s.price);
    if (!price) throw new Error(`fake-stripe: unknown price ${s.price}`);
    const now = this.now();
    const sub: FakeSubscription = {
      id: s.id ?? newId('sub'),
      customer: s.customer,
      status: s.status ?? 'active',
      currency: price.currency,
      cancel_at_period_end: false,
      cancel_at: null,
      canceled_at: null,
      pause_collection: null,
      current_period_start: s.period?.start ?? now - 15 * DAY,
      current_period_end: s.period?.end ?? now + 15 * DAY,
      items: [price.id, ...(s.extraPrices ?? [])].map((p) => ({ id: newId('si'), price: p, quantity: 1 })),
      metadata: {},
      created: now - 45 * DAY,
    };
    this.subscriptions.set(sub.id, sub);
    this.customers.get(s.customer)!.currency ??= price.currency;
    if ((s.invoice ?? 'paid') !== 'none') this.periodInvoice(sub, s.invoice === 'open' ? 'open' : 'paid');
    return sub;
  }

  /** The next `times` requests (optionally only those matching) meet this fault. */
  inject(fault: Fault, opts: { times?: number; method?: 'GET' | 'POST' | 'DELETE'; path?: RegExp } = {}): void {
    this.injections.push({ fault, remaining: opts.times ?? 1, ...(opts.method ? { method: opts.method } : {}), ...(opts.path ? { path: opts.path } : {}) });
  }

  /** Stripe forgets idempotency keys after 24 hours; this is that day passing. */
  expireIdempotencyKeys(): void {
    this.idempotency.clear();
  }

  balanceTransactionsOf(customer: string): FakeBalanceTransaction[] {
    return this.balanceTransactions.filter((t) => t.customer === customer);
  }

  invoicesOf(customer: string): FakeInvoice[] {
    return [...this.invoices.values()].filter((i) => i.customer === customer);
  }

  creditNotesOf(customer: string): FakeCreditNote[] {
    return this.creditNotes.filter((n) => n.customer === customer);
  }

  prorationsOf(subscription: string): FakeInvoiceItem[] {
    return this.invoiceItems.filter((i) => i.proration && i.subscription === subscription);
  }

  subscriptionsOf(customer: string): FakeSubscription[] {
    return [...this.subscriptions.values()].filter((s) => s.customer === customer);
  }

  /** Keys under which more than one write was executed: each is an adjustment applied twice. */
  duplicatedEffects(): string[] {
    return [...this.effects].filter(([, n]) => n > 1).map(([k]) => k);
  }

  writes(): FakeStripeRequest[] {
    return this.requests.filter((r) => r.method === 'POST' || r.method === 'DELETE');
  }

  reset(): void {
    this.requests.length = 0;
    this.injections.length = 0;
  }

  /**
   * Stripe's clock moves on: set cancellations happen, paused collection resumes at its
   * `resumes_at`, and periods that end renew (a new invoice, paid, with pending prorations and the
   * customer balance applied). Each change to a subscription is sent as an event.
   */
  advance(seconds: number): void {
    this.clockOffset += seconds;
    const now = this.now();
    for (const sub of this.subscriptions.values()) {
      if (sub.status === 'canceled') continue;
      const before = this.subscriptionJson(sub);
      const ends = sub.cancel_at_period_end ? sub.current_period_end : sub.cancel_at;
      if (ends !== null && ends <= now) {
        sub.status = 'canceled';
        sub.canceled_at = ends;
        this.emit('customer.subscription.deleted', sub, before);
        continue;
      }
      let changed = false;
      if (sub.pause_collection?.resumes_at && sub.pause_collection.resumes_at <= now) {
        sub.pause_collection = null;
        changed = true;
      }
      while (sub.current_period_end <= now) {
        const length = sub.current_period_end - sub.current_period_start;
        sub.current_period_start = sub.current_period_end;
        sub.current_period_end += length;
        this.periodInvoice(sub, sub.pause_collection?.behavior === 'void' ? 'void' : 'paid');
        changed = true;
      }
      if (changed) this.emit('customer.subscription.updated', sub, before);
    }
  }

  /** A change made by hand in the Stripe Dashboard: the subscription is changed and the event sent. */
  dashboardUpdate(subscriptionId: string, change: (sub: FakeSubscription) => void): void {
    const sub = this.subscriptions.get(subscriptionId)!;
    const before = this.subscriptionJson(sub);
    change(sub);
    this.emit(sub.status === 'canceled' ? 'customer.subscription.deleted' : 'customer.subscription.updated', sub, before);
  }

  /** Waits until every event sent so far has been delivered (or given up on). */
  async eventsSettled(): Promise<void> {
    while (this.pendingEvents.size) await Promise.all([...this.pendingEvents]);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    await this.eventsSettled();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // --- request handling ----------------------------------------------------------------------

  private handle(req: IncomingMessage, raw: string, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake-stripe');
    const method = req.method ?? 'GET';
    const requestId = newId('req');
    const key = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : null;
    const version = typeof req.headers['stripe-version'] === 'string' ? req.headers['stripe-version'] : null;
    let query: Record<string, unknown> = {};
    let params: Record<string, unknown> = {};
    const log = (status: number, replayed: boolean, fault: Fault['type'] | null) =>
      this.requests.push({ method, path: url.pathname, query, params, idempotencyKey: key, stripeVersion: version, status, replayed, fault });
    const send = (status: number, body: unknown, extra: Record<string, string> = {}, delayMs = 0) => {
      const write = () => {
        if (res.destroyed) return;
        res.writeHead(status, {
          'content-type': 'application/json',
          'request-id': requestId,
          ...(version ? { 'stripe-version': version } : {}),
          ...(key && method === 'POST' ? { 'idempotency-key': key } : {}),
          ...extra,
        });
        res.end(JSON.stringify(body));
      };
      if (delayMs <= 0) return write();
      const t = setTimeout(() => {
        this.timers.delete(t);
        write();
      }, delayMs);
      this.timers.add(t);
    };
    const refuse = (e: RefusedRequest) => {
      log(e.status, false, null);
      send(e.status, { error: e.error });
    };

    // Authentication, version and encoding come first, as at Stripe (and are never remembered).
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ')) {
      return refuse(
        invalid('You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth.', undefined, 401),
      );
    }
    const given = auth.slice('Bearer '.length);
    if (given !== this.apiKey || !/^sk_test_\w+$/.test(given)) {
      return refuse(invalid(`Invalid API Key provided: ${given.slice(0, 8)}****${given.slice(-4)}`, undefined, 401));
    }
    if (!version || !/^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/.test(version)) {
      return refuse(invalid(`Invalid Stripe API version: ${version ?? '(missing Stripe-Version header)'}`));
    }
    try {
      query = parseStripeForm(url.search.slice(1));
      if (method === 'POST') {
        const type = String(req.headers['content-type'] ?? '');
        if (!type.startsWith('application/x-www-form-urlencoded'))
          throw invalid(`Invalid request: Content-Type must be application/x-www-form-urlencoded, got "${type}"`);
        params = parseStripeForm(raw);
      } else if (raw.length > 0) {
        throw invalid(`Invalid request: a ${method} request takes its parameters in the query string, not a body`);
      }
    } catch (e) {
      if (e instanceof RefusedRequest) return refuse(e);
      throw e;
    }

    // The rate limiter, in front of the idempotency layer as at Stripe.
    const waitMs = this.takeToken();
    if (waitMs > 0) {
      this.rateLimited += 1;
      log(429, false, 'rate_limit');
      return send(
        429,
        {
          error: {
            type: 'rate_limit_error',
            code: 'rate_limit',
            message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
          },
        },
        { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) },
      );
    }

    // Faults injected in front of the idempotency layer (rate limiter, load balancer).
    const injection = this.injections.find((i) => i.remaining > 0 && (!i.method || i.method === method) && (!i.path || i.path.test(url.pathname)));
    if (injection) injection.remaining -= 1;
    const fault = injection?.fault ?? null;
    if (fault?.type === 'api_error') {
      log(500, false, 'api_error');
      return send(500, { error: { type: 'api_error', message: 'An unknown error occurred (injected by fake-stripe).' } });
    }
    if (fault?.type === 'rate_limit') {
      log(429, false, 'rate_limit');
      return send(
        429,
        {
          error: {
            type: 'rate_limit_error',
            code: 'rate_limit',
            message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
          },
        },
        fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {},
      );
    }
    if (fault?.type === 'invalid_request') {
      log(400, false, 'invalid_request');
      return send(400, {
        error: {
          type: 'invalid_request_error',
          message: fault.message ?? 'Invalid request (injected by fake-stripe).',
          ...(fault.param ? { param: fault.param } : {}),
          ...(fault.code ? { code: fault.code } : {}),
        },
      });
    }
    const delayMs = fault?.type === 'slow' ? fault.delayMs : 0;

    // Idempotency (v1): only POSTs; a key's first response is replayed to the same request.
    // (Keys on GET and DELETE have no effect at Stripe: those are idempotent by definition.)
    const fingerprint = `${method} ${url.pathname} ${canonical(params)}`;
    const storeKey = method === 'POST' && key ? `${this.apiKey}:${key}` : null;
    if (method === 'POST' && key && key.length > 255) return refuse(invalid('Idempotency keys can be at most 255 characters long.'));
    if (storeKey) {
      const stored = this.idempotency.get(storeKey);
      if (stored && stored.fingerprint !== fingerprint) {
        log(400, false, fault?.type ?? null);
        return send(400, {
          error: {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
          },
        });
      }
      if (stored) {
        log(stored.status, true, fault?.type ?? null);
        return send(stored.status, stored.body, { 'idempotent-replayed': 'true', 'original-request': stored.requestId }, delayMs);
      }
    }

    let reply: Reply;
    try {
      reply = this.route(method, url.pathname, query, params);
    } catch (e) {
      if (e instanceof RefusedRequest) return refuse(e);
      throw e;
    }
    // Keyless writes (DELETE takes none at Stripe) are counted per object, so cancelling one twice shows.
    const effectKey = key && method === 'POST' ? key : `${method} ${url.pathname}`;
    if (reply.effect) this.effects.set(effectKey, (this.effects.get(effectKey) ?? 0) + 1);
    if (storeKey) this.idempotency.set(storeKey, { fingerprint, status: reply.status, body: reply.body, requestId });
    if (fault?.type === 'lost') {
      log(500, false, 'lost');
      return send(500, { error: { type: 'api_error', message: 'An unknown error occurred (response lost, injected by fake-stripe).' } });
    }
    log(reply.status, false, fault?.type ?? null);
    send(reply.status, reply.body, {}, delayMs);
  }

  private route(method: string, path: string, query: Record<string, unknown>, params: Record<string, unknown>): Reply {
    let m: RegExpExecArray | null;
    if (path === '/v1/subscriptions') {
      if (method === 'GET') return this.listSubscriptions(query);
      if (method === 'POST') return this.createSubscription(params);
    }
    if ((m = /^\/v1\/subscriptions\/([^/]+)$/.exec(path))) {
      if (method === 'GET') {
        const sub = this.subscriptions.get(m[1]!);
        return sub ? { status: 200, body: this.subscriptionJson(sub) } : missing('subscription', m[1]!, 'id');
      }
      if (method === 'POST') return this.updateSubscription(m[1]!, params);
      if (method === 'DELETE') return this.cancelSubscription(m[1]!, query);
    }
    if ((m = /^\/v1\/customers\/([^/]+)$/.exec(path)) && method === 'GET') {
      const c = this.customers.get(m[1]!);
      return c ? { status: 200, body: this.customerJson(c) } : missing('customer', m[1]!, 'id');
    }
    if ((m = /^\/v1\/customers\/([^/]+)\/balance_transactions$/.exec(path))) {
      if (method === 'GET') return this.listBalanceTransactions(m[1]!, query);
      if (method === 'POST') return this.createBalanceTransaction(m[1]!, params);
    }
    if (path === '/v1/invoices') {
      if (method === 'GET') return this.listInvoices(query);
      if (method === 'POST') return this.createInvoice(params);
    }
    if (path === '/v1/invoices/create_preview' && method === 'POST') return this.previewInvoice(params);
    if ((m = /^\/v1\/invoices\/(in_[^/]+)$/.exec(path)) && method === 'GET') {
      const inv = this.invoices.get(m[1]!);
      return inv ? { status: 200, body: this.invoiceJson(inv) } : missing('invoice', m[1]!, 'id');
    }
    if ((m = /^\/v1\/invoices\/([^/]+)\/finalize$/.exec(path)) && method === 'POST') return this.finalizeInvoice(m[1]!, params);
    if (path === '/v1/invoiceitems') {
      if (method === 'GET') return this.listInvoiceItems(query);
      if (method === 'POST') return this.createInvoiceItem(params);
    }
    if (path === '/v1/credit_notes') {
      if (method === 'GET') return this.listCreditNotes(query);
      if (method === 'POST') return this.createCreditNote(params);
    }
    throw invalid(
      `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
      undefined,
      404,
    );
  }

  // --- subscriptions ---------------------------------------------------------------------------

  private listSubscriptions(query: Record<string, unknown>): Reply {
    onlyKnown(query, [
      ...PAGINATION,
      'customer',
      'status',
      'price',
      'plan',
      'created',
      'collection_method',
      'test_clock',
      'automatic_tax',
      'current_period_end',
      'current_period_start',
      'customer_account',
    ]);
    const status =
      query.status === undefined
        ? undefined
        : oneOf(
            query.status,
            ['active', 'all', 'canceled', 'ended', 'incomplete', 'incomplete_expired', 'past_due', 'paused', 'trialing', 'unpaid'] as const,
            'status',
          );
    const subs = [...this.subscriptions.values()]
      .filter((s) => query.customer === undefined || s.customer === query.customer)
      // Without a status filter Stripe lists every subscription that is not canceled.
      .filter((s) =>
        status === undefined ? s.status !== 'canceled' : status === 'all' || status === s.status || (status === 'ended' && s.status === 'canceled'),
      )
      .sort((a, b) => b.created - a.created);
    return page(subs, query, '/v1/subscriptions', (s) => this.subscriptionJson(s));
  }

  private createSubscription(params: Record<string, unknown>): Reply {
    onlyKnown(params, [
      'customer',
      'items',
      'metadata',
      'description',
      'expand',
      'collection_method',
      'days_until_due',
      'default_payment_method',
      'payment_behavior',
      'proration_behavior',
      'cancel_at',
      'cancel_at_period_end',
      'trial_end',
      'trial_period_days',
      'billing_cycle_anchor',
      'off_session',
      'currency',
      'add_invoice_items',
      'automatic_tax',
      'discounts',
    ]);
    const customerId = String(required(params, 'customer'));
    const items = required(params, 'items');
    if (!Array.isArray(items) || items.length === 0) throw invalid('Invalid array', 'items');
    const prices = items.map((it, i) => {
      if (typeof it !== 'object' || it === null) throw invalid('Invalid object', `items[${i}]`);
      onlyKnown(
        it as Record<string, unknown>,
        ['price', 'quantity', 'metadata', 'price_data', 'discounts', 'tax_rates', 'billing_thresholds', 'plan'],
        `items[${i}]`,
      );
      return String(required(it as Record<string, unknown>, 'price'));
    });
    const meta = metadata(params.metadata);
    text(params.description, 'description', 500);
    const customer = this.customers.get(customerId);
    if (!customer) return missing('customer', customerId, 'customer');
    for (const [i, p] of prices.entries()) if (!this.prices.has(p)) return missing('price', p, `items[${i}][price]`);
    const currencies = new Set(prices.map((p) => this.prices.get(p)!.currency));
    if (currencies.size > 1) return refusal('All prices on a subscription must have the same currency.', 'items');
    const first = this.prices.get(prices[0]!)!;
    const now = this.now();
    const sub: FakeSubscription = {
      id: newId('sub'),
      customer: customerId,
      status: 'active',
      currency: first.currency,
      cancel_at_period_end: false,
      cancel_at: null,
      canceled_at: null,
      pause_collection: null,
      current_period_start: now,
      current_period_end: now + (first.interval === 'year' ? 365 : 30) * DAY,
      items: prices.map((p) => ({ id: newId('si'), price: p, quantity: 1 })),
      metadata: meta,
      created: now,
    };
    this.subscriptions.set(sub.id, sub);
    customer.currency ??= sub.currency;
    this.periodInvoice(sub, 'paid');
    this.emit('customer.subscription.created', sub, null);
    return { status: 200, body: this.subscriptionJson(sub), effect: true };
  }

  private updateSubscription(id: string, params: Record<string, unknown>): Reply {
    onlyKnown(params, [
      'items',
      'proration_behavior',
      'proration_date',
      'cancel_at_period_end',
      'cancel_at',
      'metadata',
      'expand',
      'billing_cycle_anchor',
      'payment_behavior',
      'description',
      'default_payment_method',
      'trial_end',
      'collection_method',
      'days_until_due',
      'pause_collection',
      'off_session',
      'cancellation_details',
      'discounts',
      'automatic_tax',
    ]);
    const behavior =
      params.proration_behavior === undefined
        ? 'create_prorations'
        : oneOf(params.proration_behavior, ['create_prorations', 'none', 'always_invoice'] as const, 'proration_behavior');
    const cancel = params.cancel_at_period_end === undefined ? undefined : bool(params.cancel_at_period_end, 'cancel_at_period_end');
    // `cancel_at`: a unix timestamp, or an empty string to remove a set one.
    const cancelAt = params.cancel_at === undefined ? undefined : params.cancel_at === '' ? null : integer(params.cancel_at, 'cancel_at');
    if (cancelAt !== undefined && cancelAt !== null && cancelAt <= this.now()) throw invalid('cancel_at must be in the future.', 'cancel_at');
    if (cancel !== undefined && cancelAt !== undefined)
      throw invalid('You may only specify one of these parameters: cancel_at, cancel_at_period_end.', 'cancel_at');
    // `pause_collection`: { behavior, resumes_at? }, or an empty string to resume collection.
    let pause: FakeSubscription['pause_collection'] | undefined;
    if (params.pause_collection === '') pause = null;
    else if (params.pause_collection !== undefined) {
      const p = params.pause_collection;
      if (typeof p !== 'object' || p === null || Array.isArray(p)) throw invalid('Invalid object', 'pause_collection');
      onlyKnown(p as Record<string, unknown>, ['behavior', 'resumes_at'], 'pause_collection');
      const behaviorOf = oneOf(
        required(p as Record<string, unknown>, 'behavior'),
        ['keep_as_draft', 'mark_uncollectible', 'void'] as const,
        'pause_collection[behavior]',
      );
      const resumes =
        (p as Record<string, unknown>).resumes_at === undefined ? null : integer((p as Record<string, unknown>).resumes_at, 'pause_collection[resumes_at]');
      if (resumes !== null && resumes <= this.now()) throw invalid('pause_collection[resumes_at] must be in the future.', 'pause_collection[resumes_at]');
      pause = { behavior: behaviorOf, resumes_at: resumes };
    }
    const meta = metadata(params.metadata);
    const items = params.items === undefined ? [] : params.items;
    if (!Array.isArray(items)) throw invalid('Invalid array', 'items');
    items.forEach((it, i) => {
      if (typeof it !== 'object' || it === null) throw invalid('Invalid object', `items[${i}]`);
      onlyKnown(
        it as Record<string, unknown>,
        ['id', 'price', 'quantity', 'deleted', 'metadata', 'price_data', 'discounts', 'tax_rates', 'clear_usage', 'billing_thresholds', 'plan'],
        `items[${i}]`,
      );
    });

    const sub = this.subscriptions.get(id);
    if (!sub) return missing('subscription', id, 'id');
    if (sub.status === 'canceled') return refusal('A canceled subscription can only update its cancellation_details and metadata.');
    const prorationDate = params.proration_date === undefined ? this.now() : integer(params.proration_date, 'proration_date');
    if (prorationDate < sub.current_period_start || prorationDate > sub.current_period_end) {
      return refusal(
        `proration_date must be within the current period of subscription ${sub.id} (${sub.current_period_start}–${sub.current_period_end}).`,
        'proration_date',
      );
    }
    // Check every change before making any: a Stripe request applies whole or not at all.
    const changes: { item: FakeSubscription['items'][number]; price: FakePrice }[] = [];
    for (const [i, raw] of (items as Record<string, unknown>[]).entries()) {
      const item = sub.items.find((x) => x.id === raw.id);
      if (raw.id === undefined || !item) return refusal(`Subscription item ${String(raw.id)} does not belong to subscription ${sub.id}`, `items[${i}][id]`);
      if (raw.price === undefined) continue;
      const price = this.prices.get(String(raw.price));
      if (!price) return missing('price', String(raw.price), `items[${i}][price]`);
      if (price.currency !== sub.currency)
        return refusal(`The price specified (${price.id}) is in ${price.currency}, but the subscription is in ${sub.currency}.`, `items[${i}][price]`);
      changes.push({ item, price });
    }
    const before = this.subscriptionJson(sub);
    for (const c of changes) this.changePrice(sub, c.item, c.price, behavior === 'none' ? null : prorationDate);
    if (cancel !== undefined) sub.cancel_at_period_end = cancel;
    if (cancelAt !== undefined) {
      sub.cancel_at = cancelAt;
      if (cancelAt !== null) sub.cancel_at_period_end = false;
    }
    if (cancel === true) sub.cancel_at = null;
    if (pause !== undefined) sub.pause_collection = pause;
    Object.assign(sub.metadata, meta);
    this.emit('customer.subscription.updated', sub, before);
    return { status: 200, body: this.subscriptionJson(sub), effect: true };
  }

  /** Moves an item to another price; with a proration instant, the rest of the period is prorated as two pending invoice items. */
  private changePrice(sub: FakeSubscription, item: FakeSubscription['items'][number], price: FakePrice, prorationDate: number | null): void {
    if (item.price === price.id) return;
    const old = this.prices.get(item.price)!;
    if (prorationDate !== null) {
      const left = Math.max(0, sub.current_period_end - prorationDate) / (sub.current_period_end - sub.current_period_start);
      const period = { start: prorationDate, end: sub.current_period_end };
      // Stripe rounds each proration item on its own, so their sum may be a minor unit off an exact net.
      this.invoiceItems.push(this.item(sub, item, -Math.round(old.unit_amount * item.quantity * left), `Unused time on ${old.id}`, period, old.id));
      this.invoiceItems.push(this.item(sub, item, Math.round(price.unit_amount * item.quantity * left), `Remaining time on ${price.id}`, period, price.id));
    }
    item.price = price.id;
  }

  private item(
    sub: FakeSubscription,
    item: { id: string },
    amount: number,
    description: string,
    period: { start: number; end: number },
    price: string,
  ): FakeInvoiceItem {
    return {
      id: newId('ii'),
      customer: sub.customer,
      invoice: null,
      subscription: sub.id,
      subscription_item: item.id,
      amount,
      currency: sub.currency,
      description,
      proration: true,
      period,
      metadata: {},
      price,
      created: this.now(),
    };
  }

  private cancelSubscription(id: string, query: Record<string, unknown>): Reply {
    onlyKnown(query, ['invoice_now', 'prorate', 'cancellation_details', 'expand']);
    if (query.invoice_now !== undefined) bool(query.invoice_now, 'invoice_now');
    const prorate = query.prorate === undefined ? false : bool(query.prorate, 'prorate');
    const sub = this.subscriptions.get(id);
    if (!sub) return missing('subscription', id, 'id');
    if (sub.status === 'canceled') return refusal(`This subscription is already canceled (${sub.id}).`);
    if (prorate) return refusal('fake-stripe: prorated cancellation is not modelled; Lifecycle Desk never asks for it.', 'prorate');
    const before = this.subscriptionJson(sub);
    sub.status = 'canceled';
    sub.canceled_at = this.now();
    this.emit('customer.subscription.deleted', sub, before);
    return { status: 200, body: this.subscriptionJson(sub), effect: true };
  }

  // --- customers and balances ------------------------------------------------------------------

  private listBalanceTransactions(customerId: string, query: Record<string, unknown>): Reply {
    onlyKnown(query, [...PAGINATION, 'created', 'invoice', 'customer_account']);
    if (!this.customers.has(customerId)) return missing('customer', customerId, 'customer');
    const txs = this.balanceTransactionsOf(customerId).reverse();
    return page(txs, query, `/v1/customers/${customerId}/balance_transactions`, (t) => this.balanceTransactionJson(t));
  }

  private createBalanceTransaction(customerId: string, params: Record<string, unknown>): Reply {
    onlyKnown(params, ['amount', 'currency', 'description', 'metadata', 'expand']);
    const amount = integer(required(params, 'amount'), 'amount');
    if (amount === 0) throw invalid('Amount must be non-zero.', 'amount');
    const currency = currencyOf(required(params, 'currency'));
    const description = text(params.description, 'description', 350);
    const meta = metadata(params.metadata);
    const customer = this.customers.get(customerId);
    if (!customer) return missing('customer', customerId, 'customer');
    const tx = this.moveBalance(customer, amount, currency, { type: 'adjustment', description, metadata: meta });
    return { status: 200, body: this.balanceTransactionJson(tx), effect: true };
  }

  private moveBalance(
    customer: FakeCustomer,
    amount: number,
    currency: string,
    opts: { type: FakeBalanceTransaction['type']; description?: string | null; metadata?: Record<string, string>; credit_note?: string; invoice?: string },
  ): FakeBalanceTransaction {
    customer.currency ??= currency;
    customer.balances[currency] = (customer.balances[currency] ?? 0) + amount;
    if (currency === customer.currency) customer.balance = customer.balances[currency]!;
    const tx: FakeBalanceTransaction = {
      id: newId('cbtxn'),
      customer: customer.id,
      amount,
      currency,
      description: opts.description ?? null,
      ending_balance: customer.balances[currency]!,
      metadata: opts.metadata ?? {},
      type: opts.type,
      credit_note: opts.credit_note ?? null,
      invoice: opts.invoice ?? null,
      created: this.now(),
    };
    this.balanceTransactions.push(tx);
    return tx;
  }

  // --- invoices ----------------------------------------------------------------------------------

  /** The invoice of a subscription's current period: one line for the period, paid or left open (or voided while collection is paused). */
  private periodInvoice(sub: FakeSubscription, status: 'paid' | 'open' | 'void'): FakeInvoice {
    const lines: FakeInvoice['lines'] = sub.items.map((i) => {
      const price = this.prices.get(i.price)!;
      return {
        id: newId('il'),
        amount: price.unit_amount * i.quantity,
        description: `1 × ${price.id}`,
        period: { start: sub.current_period_start, end: sub.current_period_end },
        subscription_item: i.id,
        invoice_item: null,
        proration: false,
        metadata: {},
      };
    });
    const invoice = this.newInvoice(sub.customer, sub.currency, sub.id, {}, null, 'charge_automatically');
    invoice.lines.push(...lines);
    // Pending prorations of the subscription are collected on its next invoice.
    for (const ii of this.invoiceItems.filter((x) => x.invoice === null && x.subscription === sub.id)) {
      ii.invoice = invoice.id;
      invoice.lines.push({
        id: newId('il'),
        amount: ii.amount,
        description: ii.description,
        period: ii.period,
        subscription_item: null,
        invoice_item: ii.id,
        proration: ii.proration,
        metadata: ii.metadata,
      });
    }
    this.finalize(invoice);
    if (status === 'void') invoice.status = 'void';
    else if (status === 'paid' && invoice.status === 'open') this.pay(invoice);
    return invoice;
  }

  private newInvoice(
    customer: string,
    currency: string,
    subscription: string | null,
    meta: Record<string, string>,
    description: string | null,
    collection: string,
  ): FakeInvoice {
    const invoice: FakeInvoice = {
      id: newId('in'),
      customer,
      subscription,
      status: 'draft',
      currency,
      lines: [],
      total: 0,
      amount_due: 0,
      amount_paid: 0,
      amount_remaining: 0,
      starting_balance: 0,
      pre_payment_credit_notes_amount: 0,
      post_payment_credit_notes_amount: 0,
      metadata: meta,
      description,
      collection_method: collection,
      auto_advance: false,
      created: this.now(),
    };
    this.invoices.set(invoice.id, invoice);
    return invoice;
  }

  /** Draft → open: the total fixed, the customer's balance applied (a credit lowers what is due). */
  private finalize(invoice: FakeInvoice): void {
    invoice.total = invoice.lines.reduce((s, l) => s + l.amount, 0);
    const customer = this.customers.get(invoice.customer)!;
    const balance = customer.balances[invoice.currency] ?? 0;
    let applied = 0;
    if (balance < 0 && invoice.total > 0) applied = -Math.min(-balance, invoice.total);
    else if (balance > 0) applied = balance;
    if (applied !== 0) this.moveBalance(customer, -applied, invoice.currency, { type: 'applied_to_invoice', invoice: invoice.id });
    invoice.starting_balance = applied;
    invoice.amount_due = Math.max(0, invoice.total + applied);
    invoice.amount_remaining = invoice.amount_due;
    invoice.status = invoice.amount_due === 0 ? 'paid' : 'open';
  }

  private pay(invoice: FakeInvoice): void {
    invoice.amount_paid += invoice.amount_remaining;
    invoice.amount_remaining = 0;
    invoice.status = 'paid';
  }

  /** A customer paying an open invoice (as their card would be charged): tests use it to make invoices paid. */
  payInvoice(id: string): void {
    this.pay(this.invoices.get(id)!);
  }

  private listInvoices(query: Record<string, unknown>): Reply {
    onlyKnown(query, [...PAGINATION, 'customer', 'status', 'subscription', 'created', 'collection_method', 'due_date', 'customer_account']);
    const status = query.status === undefined ? undefined : oneOf(query.status, ['draft', 'open', 'paid', 'uncollectible', 'void'] as const, 'status');
    const all = [...this.invoices.values()]
      .filter(
        (i) =>
          (query.customer === undefined || i.customer === query.customer) &&
          (status === undefined || i.status === status) &&
          (query.subscription === undefined || i.subscription === query.subscription),
      )
      .sort((a, b) => b.created - a.created || (a.id < b.id ? 1 : -1));
    return page(all, query, '/v1/invoices', (i) => this.invoiceJson(i));
  }

  private createInvoice(params: Record<string, unknown>): Reply {
    onlyKnown(params, [
      'customer',
      'currency',
      'collection_method',
      'auto_advance',
      'pending_invoice_items_behavior',
      'description',
      'metadata',
      'days_until_due',
      'due_date',
      'subscription',
      'expand',
      'footer',
      'default_payment_method',
      'automatically_finalizes_at',
      'statement_descriptor',
      'effective_at',
    ]);
    const customerId = String(required(params, 'customer'));
    const collection =
      params.collection_method === undefined
        ? 'charge_automatically'
        : oneOf(params.collection_method, ['charge_automatically', 'send_invoice'] as const, 'collection_method');
    if (collection === 'send_invoice' && params.days_until_due === undefined && params.due_date === undefined) {
      throw invalid('Missing required param: days_until_due or due_date (required with collection_method=send_invoice).', 'days_until_due');
    }
    const behavior =
      params.pending_invoice_items_behavior === undefined
        ? 'exclude'
        : oneOf(params.pending_invoice_items_behavior, ['include', 'exclude'] as const, 'pending_invoice_items_behavior');
    const auto = params.auto_advance === undefined ? false : bool(params.auto_advance, 'auto_advance');
    const description = text(params.description, 'description', 1500);
    const meta = metadata(params.metadata);
    const customer = this.customers.get(customerId);
    if (!customer) return missing('customer', customerId, 'customer');
    const currency = params.currency === undefined ? customer.currency : currencyOf(params.currency);
    if (!currency) return refusal('The customer has no currency yet; pass currency.', 'currency');
    const invoice = this.newInvoice(customerId, currency, null, meta, description, collection);
    invoice.auto_advance = auto;
    if (behavior === 'include') {
      for (const ii of this.invoiceItems.filter((x) => x.customer === customerId && x.invoice === null && x.subscription === null && x.currency === currency))
        this.attach(invoice, ii);
    }
    return { status: 200, body: this.invoiceJson(invoice), effect: true };
  }

  private attach(invoice: FakeInvoice, ii: FakeInvoiceItem): void {
    ii.invoice = invoice.id;
    invoice.lines.push({
      id: newId('il'),
      amount: ii.amount,
      description: ii.description,
      period: ii.period,
      subscription_item: null,
      invoice_item: ii.id,
      proration: ii.proration,
      metadata: ii.metadata,
    });
    invoice.total = invoice.lines.reduce((s, l) => s + l.amount, 0);
  }

  private finalizeInvoice(id: string, params: Record<string, unknown>): Reply {
    onlyKnown(params, ['auto_advance', 'expand']);
    const auto = params.auto_advance === undefined ? undefined : bool(params.auto_advance, 'auto_advance');
    const invoice = this.invoices.get(id);
    if (!invoice) return missing('invoice', id, 'invoice');
    if (invoice.status !== 'draft') return refusal("This invoice is already finalized, you can't re-finalize a non-draft invoice.");
    if (auto !== undefined) invoice.auto_advance = auto;
    this.finalize(invoice);
    return { status: 200, body: this.invoiceJson(invoice), effect: true };
  }

  private previewInvoice(params: Record<string, unknown>): Reply {
    onlyKnown(params, [
      'customer',
      'subscription',
      'subscription_details',
      'currency',
      'expand',
      'automatic_tax',
      'invoice_items',
      'preview_mode',
      'discounts',
      'customer_details',
      'schedule',
      'schedule_details',
    ]);
    if (params.customer === undefined && params.subscription === undefined) throw invalid('Missing required param: customer or subscription.', 'customer');
    const details = (params.subscription_details ?? {}) as Record<string, unknown>;
    if (typeof details !== 'object') throw invalid('Invalid object', 'subscription_details');
    onlyKnown(
      details,
      [
        'items',
        'proration_behavior',
        'proration_date',
        'cancel_at',
        'cancel_at_period_end',
        'cancel_now',
        'billing_cycle_anchor',
        'default_tax_rates',
        'resume_at',
        'start_date',
        'trial_end',
        'metadata',
        'pause',
      ],
      'subscription_details',
    );
    const subId = params.subscription === undefined ? undefined : String(params.subscription);
    const sub = subId ? this.subscriptions.get(subId) : [...this.subscriptions.values()].find((s) => s.customer === params.customer && s.status !== 'canceled');
    if (subId && !sub) return missing('subscription', subId, 'subscription');
    if (!sub) return refusal('No upcoming invoices for customer', 'customer');
    if (params.customer !== undefined && sub.customer !== params.customer)
      return refusal(`Subscription ${sub.id} does not belong to customer ${String(params.customer)}.`, 'subscription');
    const behavior =
      details.proration_behavior === undefined
        ? 'create_prorations'
        : oneOf(details.proration_behavior, ['create_prorations', 'none', 'always_invoice'] as const, 'subscription_details[proration_behavior]');
    const prorationDate = details.proration_date === undefined ? this.now() : integer(details.proration_date, 'subscription_details[proration_date]');
    if (prorationDate < sub.current_period_start || prorationDate > sub.current_period_end) {
      return refusal('subscription_details[proration_date] must be within the current period.', 'subscription_details[proration_date]');
    }
    const items = (details.items ?? []) as Record<string, unknown>[];
    if (!Array.isArray(items)) throw invalid('Invalid array', 'subscription_details[items]');
    const lines: FakeInvoice['lines'] = [];
    const priceAfter = new Map(sub.items.map((i) => [i.id, i.price]));
    for (const [i, it] of items.entries()) {
      onlyKnown(
        it,
        ['id', 'price', 'quantity', 'deleted', 'metadata', 'price_data', 'discounts', 'tax_rates', 'clear_usage', 'billing_thresholds', 'plan'],
        `subscription_details[items][${i}]`,
      );
      const item = sub.items.find((x) => x.id === it.id);
      if (!item) return refusal(`Subscription item ${String(it.id)} does not belong to subscription ${sub.id}`, `subscription_details[items][${i}][id]`);
      const price = it.price === undefined ? undefined : this.prices.get(String(it.price));
      if (it.price !== undefined && !price) return missing('price', String(it.price), `subscription_details[items][${i}][price]`);
      if (!price || price.id === item.price) continue;
      priceAfter.set(item.id, price.id);
      if (behavior !== 'none') {
        const old = this.prices.get(item.price)!;
        const left = Math.max(0, sub.current_period_end - prorationDate) / (sub.current_period_end - sub.current_period_start);
        const period = { start: prorationDate, end: sub.current_period_end };
        lines.push(
          {
            id: newId('il'),
            amount: -Math.round(old.unit_amount * left),
            description: `Unused time on ${old.id}`,
            period,
            subscription_item: item.id,
            invoice_item: null,
            proration: true,
            metadata: {},
          },
          {
            id: newId('il'),
            amount: Math.round(price.unit_amount * left),
            description: `Remaining time on ${price.id}`,
            period,
            subscription_item: item.id,
            invoice_item: null,
            proration: true,
            metadata: {},
          },
        );
      }
    }
    // Pending prorations already waiting, then the next period at the prices after the change.
    for (const ii of this.invoiceItems.filter((x) => x.invoice === null && x.subscription === sub.id)) {
      lines.push({
        id: newId('il'),
        amount: ii.amount,
        description: ii.description,
        period: ii.period,
        subscription_item: null,
        invoice_item: ii.id,
        proration: ii.proration,
        metadata: ii.metadata,
      });
    }
    const length = sub.current_period_end - sub.current_period_start;
    for (const item of sub.items) {
      const price = this.prices.get(priceAfter.get(item.id)!)!;
      lines.push({
        id: newId('il'),
        amount: price.unit_amount,
        description: `1 × ${price.id}`,
        period: { start: sub.current_period_end, end: sub.current_period_end + length },
        subscription_item: item.id,
        invoice_item: null,
        proration: false,
        metadata: {},
      });
    }
    const preview: FakeInvoice = {
      id: `upcoming_${sub.id}`,
      customer: sub.customer,
      subscription: sub.id,
      status: 'draft',
      currency: sub.currency,
      lines,
      total: lines.reduce((s, l) => s + l.amount, 0),
      amount_due: 0,
      amount_paid: 0,
      amount_remaining: 0,
      starting_balance: 0,
      pre_payment_credit_notes_amount: 0,
      post_payment_credit_notes_amount: 0,
      metadata: {},
      description: null,
      collection_method: 'charge_automatically',
      auto_advance: false,
      created: this.now(),
    };
    preview.amount_due = Math.max(0, preview.total);
    return { status: 200, body: { ...(this.invoiceJson(preview) as Record<string, unknown>), id: null } };
  }

  // --- invoice items -----------------------------------------------------------------------------

  private listInvoiceItems(query: Record<string, unknown>): Reply {
    onlyKnown(query, [...PAGINATION, 'customer', 'invoice', 'pending', 'created', 'customer_account']);
    const pending = query.pending === undefined ? undefined : bool(query.pending, 'pending');
    const all = this.invoiceItems
      .filter(
        (i) =>
          (query.customer === undefined || i.customer === query.customer) &&
          (query.invoice === undefined || i.invoice === query.invoice) &&
          (pending === undefined || (i.invoice === null) === pending),
      )
      .slice()
      .reverse();
    return page(all, query, '/v1/invoiceitems', (i) => this.invoiceItemJson(i));
  }

  private createInvoiceItem(params: Record<string, unknown>): Reply {
    onlyKnown(params, [
      'customer',
      'amount',
      'currency',
      'description',
      'invoice',
      'metadata',
      'period',
      'price_data',
      'pricing',
      'quantity',
      'subscription',
      'discountable',
      'discounts',
      'tax_behavior',
      'tax_code',
      'tax_rates',
      'unit_amount_decimal',
      'expand',
    ]);
    const customerId = String(required(params, 'customer'));
    if (params.amount === undefined && params.pricing === undefined && params.price_data === undefined)
      throw invalid('Missing required param: amount (or pricing[price]).', 'amount');
    const amount = integer(params.amount, 'amount');
    const currency = currencyOf(required(params, 'currency'));
    const description = text(params.description, 'description', 500);
    const meta = metadata(params.metadata);
    const customer = this.customers.get(customerId);
    if (!customer) return missing('customer', customerId, 'customer');
    const invoiceId = params.invoice === undefined ? null : String(params.invoice);
    const invoice = invoiceId ? this.invoices.get(invoiceId) : null;
    if (invoiceId && !invoice) return missing('invoice', invoiceId, 'invoice');
    if (invoice && invoice.status !== 'draft')
      return refusal(`You can only add invoice items to draft invoices; invoice ${invoice.id} is ${invoice.status}.`, 'invoice');
    if (invoice && invoice.customer !== customerId) return refusal(`Invoice ${invoice.id} does not belong to customer ${customerId}.`, 'invoice');
    if (invoice && invoice.currency !== currency)
      return refusal(`The currency of the invoice item (${currency}) must match the invoice's (${invoice.currency}).`, 'currency');
    const now = this.now();
    const ii: FakeInvoiceItem = {
      id: newId('ii'),
      customer: customerId,
      invoice: null,
      subscription: null,
      subscription_item: null,
      amount,
      currency,
      description,
      proration: false,
      period: { start: now, end: now },
      metadata: meta,
      price: null,
      created: now,
    };
    this.invoiceItems.push(ii);
    if (invoice) this.attach(invoice, ii);
    return { status: 200, body: this.invoiceItemJson(ii), effect: true };
  }

  // --- credit notes and refunds ------------------------------------------------------------------

  private listCreditNotes(query: Record<string, unknown>): Reply {
    onlyKnown(query, [...PAGINATION, 'customer', 'invoice', 'created', 'customer_account']);
    const all = this.creditNotes
      .filter((n) => (query.customer === undefined || n.customer === query.customer) && (query.invoice === undefined || n.invoice === query.invoice))
      .slice()
      .reverse();
    return page(all, query, '/v1/credit_notes', (n) => this.creditNoteJson(n));
  }

  /**
   * Stripe's rules (API reference, "Create a credit note"): only finalized invoices; the note
   * first reduces what is still due (`pre_payment_amount`, not below zero); the rest
   * (`post_payment_amount`) must be exactly split into `refund_amount`, `credit_amount` and
   * `out_of_band_amount`; a refund needs a payment to refund; the notes of an invoice never add up
   * to more than its total.
   */
  private createCreditNote(params: Record<string, unknown>): Reply {
    onlyKnown(params, [
      'invoice',
      'amount',
      'credit_amount',
      'refund_amount',
      'out_of_band_amount',
      'lines',
      'memo',
      'metadata',
      'reason',
      'refunds',
      'effective_at',
      'email_type',
      'shipping_cost',
      'expand',
    ]);
    const invoiceId = String(required(params, 'invoice'));
    if (params.amount === undefined && params.lines === undefined && params.shipping_cost === undefined)
      throw invalid('One of amount, lines, or shipping_cost must be provided.', 'amount');
    if (params.lines !== undefined) throw invalid('fake-stripe: credit note lines are not modelled; Lifecycle Desk sends amount.', 'lines');
    const amount = positive(params.amount, 'amount');
    if (amount === 0) throw invalid('Invalid amount: must be greater than 0', 'amount');
    const credit = params.credit_amount === undefined ? 0 : positive(params.credit_amount, 'credit_amount');
    const refund = params.refund_amount === undefined ? 0 : positive(params.refund_amount, 'refund_amount');
    const outOfBand = params.out_of_band_amount === undefined ? 0 : positive(params.out_of_band_amount, 'out_of_band_amount');
    if (params.reason !== undefined) oneOf(params.reason, ['duplicate', 'fraudulent', 'order_change', 'product_unsatisfactory'] as const, 'reason');
    if (params.email_type !== undefined) oneOf(params.email_type, ['credit_note', 'none'] as const, 'email_type');
    const memo = text(params.memo, 'memo', 5000);
    const meta = metadata(params.metadata);
    const invoice = this.invoices.get(invoiceId);
    if (!invoice) return missing('invoice', invoiceId, 'invoice');
    if (invoice.status === 'draft' || invoice.status === 'void')
      return refusal(`You can only create credit notes for finalized invoices; invoice ${invoice.id} is ${invoice.status}.`, 'invoice');
    const creditable = invoice.total - invoice.pre_payment_credit_notes_amount - invoice.post_payment_credit_notes_amount;
    if (amount > creditable) return refusal(`The credit note amount (${amount}) exceeds the invoice's remaining creditable amount (${creditable}).`, 'amount');
    const pre = Math.min(amount, invoice.amount_remaining);
    const post = amount - pre;
    if (credit + refund + outOfBand !== post) {
      return refusal(
        `The sum of refund_amount, credit_amount and out_of_band_amount (${credit + refund + outOfBand}) must equal the post-payment amount of the credit note (${post}).`,
      );
    }
    const refunded = this.refunds.filter((r) => r.invoice === invoice.id).reduce((s, r) => s + r.amount, 0);
    if (refund > invoice.amount_paid - refunded)
      return refusal(
        `Refund amount (${refund}) is greater than the amount that can be refunded on invoice ${invoice.id} (${invoice.amount_paid - refunded}).`,
        'refund_amount',
      );

    const id = newId('cn');
    const customer = this.customers.get(invoice.customer)!;
    invoice.pre_payment_credit_notes_amount += pre;
    invoice.post_payment_credit_notes_amount += post;
    invoice.amount_remaining -= pre;
    invoice.amount_due -= pre;
    if (invoice.status === 'open' && invoice.amount_remaining === 0) invoice.status = 'paid';
    const tx = credit > 0 ? this.moveBalance(customer, -credit, invoice.currency, { type: 'credit_note', credit_note: id, invoice: invoice.id }) : null;
    const refunds: FakeCreditNote['refunds'] = [];
    if (refund > 0) {
      const r: FakeRefund = { id: newId('re'), amount: refund, currency: invoice.currency, invoice: invoice.id, credit_note: id };
      this.refunds.push(r);
      refunds.push({ refund: r.id, amount_refunded: refund });
    }
    const note: FakeCreditNote = {
      id,
      customer: invoice.customer,
      invoice: invoice.id,
      currency: invoice.currency,
      amount,
      pre_payment_amount: pre,
      post_payment_amount: post,
      out_of_band_amount: outOfBand,
      refunds,
      customer_balance_transaction: tx?.id ?? null,
      memo,
      metadata: meta,
      created: this.now(),
    };
    this.creditNotes.push(note);
    return { status: 200, body: this.creditNoteJson(note), effect: true };
  }

  // --- events -----------------------------------------------------------------------------------

  /** Sends a `customer.subscription.*` event, signed as Stripe signs them, retrying a refused delivery a few times. */
  private emit(type: string, sub: FakeSubscription, before: unknown): void {
    const event = {
      id: newId('evt'),
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: this.now(),
      livemode: false,
      pending_webhooks: 1,
      type,
      data: { object: this.subscriptionJson(sub), ...(before ? { previous_attributes: before } : {}) },
    };
    const endpoint = this.webhook;
    // No endpoint yet: Stripe keeps the event, and sends it once one is configured (see flushEvents).
    if (!endpoint) {
      this.undelivered.push(event);
      return;
    }
    this.send(endpoint, event);
  }

  /** Sends the events kept while no endpoint was configured, oldest first. */
  flushEvents(): void {
    const endpoint = this.webhook;
    if (!endpoint) throw new Error('fake-stripe: configure webhook first');
    for (const event of this.undelivered.splice(0)) this.send(endpoint, event);
  }

  private send(endpoint: WebhookEndpoint, event: { id: string; type: string }): void {
    const type = event.type;
    const payload = JSON.stringify(event);
    const deliver = async () => {
      for (let attempt = 1; attempt <= 5; attempt++) {
        let status: number | null;
        try {
          const header = Stripe.webhooks.generateTestHeaderString({ payload, secret: endpoint.secret });
          const res = await fetch(endpoint.url, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': header }, body: payload });
          status = res.status;
          await res.text();
        } catch {
          status = null;
        }
        this.eventDeliveries.push({ id: event.id, type, status, attempt });
        if (status !== null && status >= 200 && status < 300) return;
        await new Promise((r) => setTimeout(r, 150 * attempt));
      }
    };
    const p = deliver().finally(() => this.pendingEvents.delete(p));
    this.pendingEvents.add(p);
  }

  // --- JSON in Stripe's shapes -----------------------------------------------------------------

  private priceJson(p: FakePrice) {
    return {
      id: p.id,
      object: 'price',
      active: true,
      currency: p.currency,
      unit_amount: p.unit_amount,
      recurring: { interval: p.interval, interval_count: 1, usage_type: 'licensed' },
      product: `prod_${p.id.replace(/^price_/, '')}`,
      type: 'recurring',
      livemode: false,
      metadata: {},
    };
  }

  subscriptionJson(s: FakeSubscription) {
    return {
      id: s.id,
      object: 'subscription',
      customer: s.customer,
      status: s.status,
      currency: s.currency,
      cancel_at_period_end: s.cancel_at_period_end,
      cancel_at: s.cancel_at_period_end ? s.current_period_end : s.cancel_at,
      canceled_at: s.canceled_at,
      ended_at: s.status === 'canceled' ? s.canceled_at : null,
      pause_collection: s.pause_collection,
      created: s.created,
      start_date: s.created,
      billing_cycle_anchor: s.current_period_start,
      livemode: false,
      metadata: s.metadata,
      items: {
        object: 'list',
        data: s.items.map((i) => ({
          id: i.id,
          object: 'subscription_item',
          price: this.priceJson(this.prices.get(i.price)!),
          quantity: i.quantity,
          subscription: s.id,
          current_period_start: s.current_period_start,
          current_period_end: s.current_period_end,
          metadata: {},
        })),
        has_more: false,
        url: `/v1/subscription_items?subscription=${s.id}`,
      },
    };
  }

  private customerJson(c: FakeCustomer) {
    return { id: c.id, object: 'customer', balance: c.balance, currency: c.currency, invoice_credit_balance: c.balances, livemode: false, metadata: {} };
  }

  private balanceTransactionJson(t: FakeBalanceTransaction) {
    return {
      id: t.id,
      object: 'customer_balance_transaction',
      amount: t.amount,
      currency: t.currency,
      customer: t.customer,
      description: t.description,
      ending_balance: t.ending_balance,
      metadata: t.metadata,
      type: t.type,
      created: t.created,
      livemode: false,
      credit_note: t.credit_note,
      invoice: t.invoice,
      checkout_session: null,
    };
  }

  private invoiceJson(i: FakeInvoice) {
    return {
      id: i.id,
      object: 'invoice',
      customer: i.customer,
      status: i.status,
      currency: i.currency,
      total: i.total,
      subtotal: i.total,
      amount_due: i.amount_due,
      amount_paid: i.amount_paid,
      amount_remaining: i.amount_remaining,
      starting_balance: i.starting_balance,
      pre_payment_credit_notes_amount: i.pre_payment_credit_notes_amount,
      post_payment_credit_notes_amount: i.post_payment_credit_notes_amount,
      collection_method: i.collection_method,
      auto_advance: i.auto_advance,
      description: i.description,
      metadata: i.metadata,
      created: i.created,
      period_start: i.created,
      period_end: i.created,
      livemode: false,
      parent: i.subscription
        ? { type: 'subscription_details', subscription_details: { subscription: i.subscription, metadata: {} }, quote_details: null }
        : null,
      lines: {
        object: 'list',
        data: i.lines.map((l) => ({
          id: l.id,
          object: 'line_item',
          amount: l.amount,
          currency: i.currency,
          description: l.description,
          invoice: i.id,
          livemode: false,
          metadata: l.metadata,
          period: l.period,
          parent: l.subscription_item
            ? {
                type: 'subscription_item_details',
                subscription_item_details: {
                  subscription: i.subscription,
                  subscription_item: l.subscription_item,
                  invoice_item: l.invoice_item,
                  proration: l.proration,
                  proration_details: null,
                },
                invoice_item_details: null,
              }
            : {
                type: 'invoice_item_details',
                invoice_item_details: { invoice_item: l.invoice_item, proration: l.proration, proration_details: null, subscription: i.subscription },
                subscription_item_details: null,
              },
          quantity: 1,
          subtotal: l.amount,
        })),
        has_more: false,
        url: `/v1/invoices/${i.id}/lines`,
      },
    };
  }

  private invoiceItemJson(i: FakeInvoiceItem) {
    return {
      id: i.id,
      object: 'invoiceitem',
      amount: i.amount,
      currency: i.currency,
      customer: i.customer,
      date: i.created,
      description: i.description,
      discountable: true,
      invoice: i.invoice,
      livemode: false,
      metadata: i.metadata,
      parent: i.subscription
        ? { type: 'subscription_details', subscription_details: { subscription: i.subscription, subscription_item: i.subscription_item } }
        : null,
      period: i.period,
      proration: i.proration,
      quantity: 1,
    };
  }

  private creditNoteJson(n: FakeCreditNote) {
    return {
      id: n.id,
      object: 'credit_note',
      amount: n.amount,
      total: n.amount,
      subtotal: n.amount,
      currency: n.currency,
      customer: n.customer,
      customer_balance_transaction: n.customer_balance_transaction,
      invoice: n.invoice,
      memo: n.memo,
      metadata: n.metadata,
      out_of_band_amount: n.out_of_band_amount || null,
      pre_payment_amount: n.pre_payment_amount,
      post_payment_amount: n.post_payment_amount,
      refunds: n.refunds.map((r) => ({ refund: r.refund, amount_refunded: r.amount_refunded, type: 'refund', payment_record_refund: null })),
      status: 'issued',
      type: n.pre_payment_amount && n.post_payment_amount ? 'mixed' : n.post_payment_amount ? 'post_payment' : 'pre_payment',
      created: n.created,
      livemode: false,
    };
  }
}
