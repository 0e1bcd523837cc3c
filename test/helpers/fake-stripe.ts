import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the part of Stripe's v1 API the Stripe billing adapter uses, reached
 * through the official SDK. It checks each request the way Stripe does (Bearer secret key,
 * Stripe-Version, form-encoded bodies in bracket notation, known parameters only, required
 * parameters, lower-case currencies, metadata limits), implements v1 idempotency (same key and
 * same parameters → the first response replayed with `Idempotent-Replayed: true`; same key and
 * other parameters → 400 idempotency_error), keeps state so tests assert on effects, counts
 * effects per idempotency key, and fails on request.
 *
 * Endpoints: GET /v1/subscriptions, GET|POST /v1/subscriptions/:id, GET /v1/customers/:id,
 * GET|POST /v1/customers/:id/balance_transactions.
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

export interface FakeSubscription {
  readonly id: string;
  readonly customer: string;
  status: 'active' | 'trialing' | 'past_due' | 'canceled' | 'incomplete' | 'unpaid' | 'paused';
  readonly currency: string;
  cancel_at_period_end: boolean;
  /** A set cancellation instant (unix seconds), or null. */
  cancel_at: number | null;
  readonly current_period_start: number;
  readonly current_period_end: number;
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
  readonly created: number;
}

/** A pending invoice item Stripe creates when it prorates a price change. */
export interface FakeProration {
  readonly id: string;
  readonly customer: string;
  readonly subscription: string;
  readonly price: string;
  readonly amount: number;
  readonly currency: string;
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
  | { readonly type: 'invalid_request'; readonly message?: string; readonly param?: string }
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

/** A request Stripe refuses before the idempotency layer (bad parameters): never remembered under the key. */
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
const missing = (what: string, id: string, param: string): Reply => ({
  status: 404,
  body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${what}: '${id}'`, param } },
});

const nowSeconds = () => Math.floor(Date.now() / 1000);
const newId = (prefix: string) => `${prefix}_${randomBytes(8).toString('hex')}`;

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

function integer(v: unknown, param: string): number {
  if (typeof v !== 'string' || !/^-?\d+$/.test(v)) throw invalid(`Invalid integer: ${String(v)}`, param);
  return Number(v);
}

function bool(v: unknown, param: string): boolean {
  if (v !== 'true' && v !== 'false') throw invalid(`Invalid boolean: ${String(v)}`, param);
  return v === 'true';
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

function limit(query: Record<string, unknown>): number {
  if (query.limit === undefined) return 10;
  const n = integer(query.limit, 'limit');
  if (n < 1 || n > 100) throw invalid('This value must be between 1 and 100.', 'limit');
  return n;
}

export class FakeStripe {
  readonly customers = new Map<string, FakeCustomer>();
  readonly prices = new Map<string, FakePrice>();
  readonly subscriptions = new Map<string, FakeSubscription>();
  readonly balanceTransactions: FakeBalanceTransaction[] = [];
  readonly prorations: FakeProration[] = [];
  readonly requests: FakeStripeRequest[] = [];
  /** Writes executed (not replayed) per Idempotency-Key; `(none)` for writes sent without one. */
  readonly effects = new Map<string, number>();
  private readonly idempotency = new Map<string, Stored>();
  private readonly injections: Injection[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: Server,
    readonly apiKey: string,
    readonly port: number,
  ) {}

  static async start(opts: { apiKey?: string } = {}): Promise<FakeStripe> {
    const holder: { s?: FakeStripe } = {};
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => holder.s!.handle(req, Buffer.concat(chunks).toString('utf8'), res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    holder.s = new FakeStripe(server, opts.apiKey ?? `sk_test_${randomBytes(12).toString('hex')}`, (server.address() as AddressInfo).port);
    return holder.s;
  }

  /** SDK settings that point `new Stripe(…)` (or the adapter) here. */
  get sdkOptions(): { host: string; port: number; protocol: 'http' } {
    return { host: '127.0.0.1', port: this.port, protocol: 'http' };
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

  /** A subscription on one price, in the middle of a 30-day period (so a price change prorates). */
  addSubscription(s: { customer: string; price: string; status?: FakeSubscription['status']; id?: string }): FakeSubscription {
    const price = this.prices.get(s.price);
    if (!price) throw new Error(`fake-stripe: unknown price ${s.price}`);
    const now = nowSeconds();
    const sub: FakeSubscription = {
      id: s.id ?? newId('sub'),
      customer: s.customer,
      status: s.status ?? 'active',
      currency: price.currency,
      cancel_at_period_end: false,
      cancel_at: null,
      current_period_start: now - 15 * 86_400,
      current_period_end: now + 15 * 86_400,
      items: [{ id: newId('si'), price: price.id, quantity: 1 }],
      metadata: {},
      created: now - 45 * 86_400,
    };
    this.subscriptions.set(sub.id, sub);
    return sub;
  }

  /** The next `times` requests (optionally only those matching) meet this fault. */
  inject(fault: Fault, opts: { times?: number; method?: 'GET' | 'POST'; path?: RegExp } = {}): void {
    this.injections.push({ fault, remaining: opts.times ?? 1, ...(opts.method ? { method: opts.method } : {}), ...(opts.path ? { path: opts.path } : {}) });
  }

  /** Stripe forgets idempotency keys after 24 hours; this is that day passing. */
  expireIdempotencyKeys(): void {
    this.idempotency.clear();
  }

  balanceTransactionsOf(customer: string): FakeBalanceTransaction[] {
    return this.balanceTransactions.filter((t) => t.customer === customer);
  }

  /** Keys under which more than one write was executed: each is an adjustment applied twice. */
  duplicatedEffects(): string[] {
    return [...this.effects].filter(([, n]) => n > 1).map(([k]) => k);
  }

  writes(): FakeStripeRequest[] {
    return this.requests.filter((r) => r.method === 'POST');
  }

  reset(): void {
    this.requests.length = 0;
    this.injections.length = 0;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
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
          ...(key ? { 'idempotency-key': key } : {}),
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
      return refuse(invalid('You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth.', undefined, 401));
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
        if (!type.startsWith('application/x-www-form-urlencoded')) throw invalid(`Invalid request: Content-Type must be application/x-www-form-urlencoded, got "${type}"`);
        params = parseStripeForm(raw);
      }
    } catch (e) {
      if (e instanceof RefusedRequest) return refuse(e);
      throw e;
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
        { error: { type: 'rate_limit_error', code: 'rate_limit', message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.' } },
        fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {},
      );
    }
    if (fault?.type === 'invalid_request') {
      log(400, false, 'invalid_request');
      return send(400, { error: { type: 'invalid_request_error', message: fault.message ?? 'Invalid request (injected by fake-stripe).', ...(fault.param ? { param: fault.param } : {}) } });
    }
    const delayMs = fault?.type === 'slow' ? fault.delayMs : 0;

    // Idempotency (v1): only POSTs; a key's first response is replayed to the same request.
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
    if (reply.effect) this.effects.set(key ?? '(none)', (this.effects.get(key ?? '(none)') ?? 0) + 1);
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
    if (method === 'GET' && path === '/v1/subscriptions') return this.listSubscriptions(query);
    if ((m = /^\/v1\/subscriptions\/([^/]+)$/.exec(path))) {
      if (method === 'GET') {
        const sub = this.subscriptions.get(m[1]!);
        return sub ? { status: 200, body: this.subscriptionJson(sub) } : missing('subscription', m[1]!, 'id');
      }
      if (method === 'POST') return this.updateSubscription(m[1]!, params);
    }
    if ((m = /^\/v1\/customers\/([^/]+)$/.exec(path)) && method === 'GET') {
      const c = this.customers.get(m[1]!);
      return c ? { status: 200, body: this.customerJson(c) } : missing('customer', m[1]!, 'id');
    }
    if ((m = /^\/v1\/customers\/([^/]+)\/balance_transactions$/.exec(path))) {
      if (method === 'GET') return this.listBalanceTransactions(m[1]!, query);
      if (method === 'POST') return this.createBalanceTransaction(m[1]!, params);
    }
    throw invalid(`Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`, undefined, 404);
  }

  private listSubscriptions(query: Record<string, unknown>): Reply {
    onlyKnown(query, ['customer', 'status', 'limit', 'price', 'starting_after', 'ending_before', 'expand', 'created', 'collection_method', 'test_clock', 'automatic_tax']);
    const n = limit(query);
    const status = query.status === undefined ? undefined : String(query.status);
    const allowed = ['active', 'all', 'canceled', 'ended', 'incomplete', 'incomplete_expired', 'past_due', 'paused', 'trialing', 'unpaid'];
    if (status !== undefined && !allowed.includes(status)) throw invalid(`Invalid status: must be one of ${allowed.join(', ')}`, 'status');
    const subs = [...this.subscriptions.values()]
      .filter((s) => query.customer === undefined || s.customer === query.customer)
      // Without a status filter Stripe lists every subscription that is not canceled.
      .filter((s) => (status === undefined ? s.status !== 'canceled' : status === 'all' || status === s.status || (status === 'ended' && s.status === 'canceled')))
      .sort((a, b) => b.created - a.created);
    return { status: 200, body: { object: 'list', data: subs.slice(0, n).map((s) => this.subscriptionJson(s)), has_more: subs.length > n, url: '/v1/subscriptions' } };
  }

  private updateSubscription(id: string, params: Record<string, unknown>): Reply {
    onlyKnown(params, [
      'items', 'proration_behavior', 'proration_date', 'cancel_at_period_end', 'cancel_at', 'metadata', 'expand', 'billing_cycle_anchor',
      'payment_behavior', 'description', 'default_payment_method', 'trial_end', 'collection_method', 'days_until_due', 'pause_collection',
      'off_session', 'cancellation_details', 'discounts', 'automatic_tax',
    ]);
    const behavior = params.proration_behavior;
    if (behavior !== undefined && !['create_prorations', 'none', 'always_invoice'].includes(String(behavior))) {
      throw invalid(`Invalid proration_behavior: must be one of create_prorations, none, or always_invoice`, 'proration_behavior');
    }
    const cancel = params.cancel_at_period_end === undefined ? undefined : bool(params.cancel_at_period_end, 'cancel_at_period_end');
    // `cancel_at`: a unix timestamp, or an empty string to remove a set one.
    const cancelAt = params.cancel_at === undefined ? undefined : params.cancel_at === '' ? null : integer(params.cancel_at, 'cancel_at');
    if (cancelAt !== undefined && cancelAt !== null && cancelAt <= nowSeconds()) throw invalid('cancel_at must be in the future.', 'cancel_at');
    if (cancel !== undefined && cancelAt !== undefined) throw invalid('You may only specify one of these parameters: cancel_at, cancel_at_period_end.', 'cancel_at');
    const meta = metadata(params.metadata);
    const items = params.items === undefined ? [] : params.items;
    if (!Array.isArray(items)) throw invalid('Invalid array', 'items');
    items.forEach((it, i) => {
      if (typeof it !== 'object' || it === null) throw invalid('Invalid object', `items[${i}]`);
      onlyKnown(it as Record<string, unknown>, ['id', 'price', 'quantity', 'deleted', 'metadata', 'price_data', 'discounts', 'tax_rates', 'clear_usage', 'billing_thresholds', 'plan'], `items[${i}]`);
    });

    const sub = this.subscriptions.get(id);
    if (!sub) return missing('subscription', id, 'id');
    if (sub.status === 'canceled') {
      return { status: 400, body: { error: { type: 'invalid_request_error', message: 'A canceled subscription can only update its cancellation_details and metadata.' } } };
    }
    // Check every change before making any: a Stripe request applies whole or not at all.
    const changes: { item: FakeSubscription['items'][number]; price: FakePrice }[] = [];
    for (const [i, raw] of (items as Record<string, unknown>[]).entries()) {
      const item = sub.items.find((x) => x.id === raw.id);
      if (raw.id === undefined || !item) {
        return { status: 400, body: { error: { type: 'invalid_request_error', message: `Subscription item ${String(raw.id)} does not belong to subscription ${sub.id}`, param: `items[${i}][id]` } } };
      }
      if (raw.price === undefined) continue;
      const price = this.prices.get(String(raw.price));
      if (!price) return missing('price', String(raw.price), `items[${i}][price]`);
      if (price.currency !== sub.currency) {
        return {
          status: 400,
          body: { error: { type: 'invalid_request_error', message: `The price specified (${price.id}) is in ${price.currency}, but the subscription is in ${sub.currency}.`, param: `items[${i}][price]` } },
        };
      }
      changes.push({ item, price });
    }
    const now = nowSeconds();
    for (const { item, price } of changes) {
      if (item.price === price.id) continue;
      const old = this.prices.get(item.price)!;
      if ((behavior ?? 'create_prorations') !== 'none') {
        const left = Math.max(0, sub.current_period_end - now) / (sub.current_period_end - sub.current_period_start);
        this.prorations.push(
          { id: newId('ii'), customer: sub.customer, subscription: sub.id, price: old.id, amount: -Math.round(old.unit_amount * item.quantity * left), currency: sub.currency },
          { id: newId('ii'), customer: sub.customer, subscription: sub.id, price: price.id, amount: Math.round(price.unit_amount * item.quantity * left), currency: sub.currency },
        );
      }
      item.price = price.id;
    }
    if (cancel !== undefined) sub.cancel_at_period_end = cancel;
    if (cancelAt !== undefined) {
      sub.cancel_at = cancelAt;
      if (cancelAt !== null) sub.cancel_at_period_end = false;
    }
    Object.assign(sub.metadata, meta);
    return { status: 200, body: this.subscriptionJson(sub), effect: true };
  }

  private listBalanceTransactions(customerId: string, query: Record<string, unknown>): Reply {
    onlyKnown(query, ['limit', 'starting_after', 'ending_before', 'expand', 'created', 'invoice']);
    const n = limit(query);
    if (!this.customers.has(customerId)) return missing('customer', customerId, 'customer');
    const txs = this.balanceTransactionsOf(customerId).reverse();
    return {
      status: 200,
      body: { object: 'list', data: txs.slice(0, n).map((t) => this.balanceTransactionJson(t)), has_more: txs.length > n, url: `/v1/customers/${customerId}/balance_transactions` },
    };
  }

  private createBalanceTransaction(customerId: string, params: Record<string, unknown>): Reply {
    onlyKnown(params, ['amount', 'currency', 'description', 'metadata', 'expand']);
    if (params.amount === undefined) throw invalid('Missing required param: amount.', 'amount');
    if (params.currency === undefined) throw invalid('Missing required param: currency.', 'currency');
    const amount = integer(params.amount, 'amount');
    if (amount === 0) throw invalid('Amount must be non-zero.', 'amount');
    const currency = String(params.currency);
    if (!/^[a-z]{3}$/.test(currency)) throw invalid(`Invalid currency: ${currency}. Stripe currencies are three-letter ISO codes in lower case.`, 'currency');
    const description = params.description === undefined ? null : String(params.description);
    if (description !== null && description.length > 350) throw invalid('Invalid description: must be at most 350 characters', 'description');
    const meta = metadata(params.metadata);

    const customer = this.customers.get(customerId);
    if (!customer) return missing('customer', customerId, 'customer');
    customer.currency ??= currency;
    customer.balances[currency] = (customer.balances[currency] ?? 0) + amount;
    if (currency === customer.currency) customer.balance = customer.balances[currency]!;
    const tx: FakeBalanceTransaction = {
      id: newId('cbtxn'),
      customer: customer.id,
      amount,
      currency,
      description,
      ending_balance: customer.balances[currency]!,
      metadata: meta,
      created: nowSeconds(),
    };
    this.balanceTransactions.push(tx);
    return { status: 200, body: this.balanceTransactionJson(tx), effect: true };
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

  private subscriptionJson(s: FakeSubscription) {
    return {
      id: s.id,
      object: 'subscription',
      customer: s.customer,
      status: s.status,
      currency: s.currency,
      cancel_at_period_end: s.cancel_at_period_end,
      cancel_at: s.cancel_at_period_end ? s.current_period_end : s.cancel_at,
      canceled_at: null,
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
      type: 'adjustment',
      created: t.created,
      livemode: false,
      credit_note: null,
      invoice: null,
      checkout_session: null,
    };
  }
}
