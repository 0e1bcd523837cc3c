import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the parts of Stripe's API the billing adapter uses, reached through the
 * official `stripe` SDK (host/port/protocol options). Like Stripe it requires a Bearer secret
 * key and a Stripe-Version header, takes form-encoded bodies with bracket notation, replays the
 * first response for a repeated Idempotency-Key (and refuses the same key with different
 * parameters), and keeps state (customer balances, subscription prices, cancel_at_period_end)
 * so tests can count effects.
 */
interface Sub {
  id: string;
  customer: string;
  status: 'active' | 'canceled';
  currency: string;
  cancel_at_period_end: boolean;
  items: { id: string; price: string }[];
  proration_behavior?: string;
}

export class FakeStripe {
  readonly balances = new Map<string, number>();
  readonly balanceTransactions: { id: string; customer: string; amount: number; currency: string; idempotencyKey: string }[] = [];
  readonly subscriptions = new Map<string, Sub>();
  readonly requests: { method: string; path: string; status: number; idempotencyKey: string | null }[] = [];
  private readonly idempotent = new Map<string, { params: string; status: number; body: unknown }>();
  private failures: { status: number; type: string }[] = [];
  private seq = 0;

  private constructor(private readonly server: Server, readonly port: number) {}

  static async start(): Promise<FakeStripe> {
    const holder: { s?: FakeStripe } = {};
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => holder.s!.handle(req.method ?? 'GET', req.url ?? '/', req.headers, Buffer.concat(chunks).toString('utf8'), (status, body, headers = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    holder.s = new FakeStripe(server, (server.address() as AddressInfo).port);
    return holder.s;
  }

  failNext(status: number, type: string, times = 1): void {
    for (let i = 0; i < times; i++) this.failures.push({ status, type });
  }

  addSubscription(customer: string, price: string, currency = 'eur'): Sub {
    const sub: Sub = { id: `sub_${++this.seq}`, customer, status: 'active', currency, cancel_at_period_end: false, items: [{ id: `si_${++this.seq}`, price }] };
    this.subscriptions.set(sub.id, sub);
    return sub;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(method: string, rawUrl: string, headers: NodeJS.Dict<string | string[]>, body: string, send: (status: number, body: unknown, headers?: Record<string, string>) => void) {
    const url = new URL(rawUrl, 'http://stripe.local');
    const key = typeof headers['idempotency-key'] === 'string' ? headers['idempotency-key'] : null;
    const reply = (status: number, payload: unknown, extra: Record<string, string> = {}) => {
      this.requests.push({ method, path: url.pathname, status, idempotencyKey: key });
      send(status, payload, extra);
    };
    const error = (status: number, type: string, message: string, extra: Record<string, string> = {}) => reply(status, { error: { type, message } }, extra);
    if (!/^Bearer sk_test_\w+$/.test(String(headers.authorization ?? ''))) return error(401, 'invalid_request_error', 'Invalid API Key provided');
    if (!headers['stripe-version']) return error(400, 'invalid_request_error', 'Stripe-Version header missing');
    const fail = this.failures.shift();
    if (fail) return error(fail.status, fail.type, 'stand-in failure', fail.status === 429 ? { 'retry-after': '1' } : {});
    if (method === 'POST' && !String(headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return error(400, 'invalid_request_error', 'expected a form-encoded body');
    const params = new URLSearchParams(body);
    if (method === 'POST' && key) {
      const seen = this.idempotent.get(key);
      if (seen) {
        if (seen.params !== `${url.pathname}?${body}`) return error(400, 'idempotency_error', 'Keys for idempotent requests can only be used with the same parameters they were first used with.');
        return reply(seen.status, seen.body, { 'idempotent-replayed': 'true' });
      }
    }
    const remember = (status: number, payload: unknown) => {
      if (method === 'POST' && key) this.idempotent.set(key, { params: `${url.pathname}?${body}`, status, body: payload });
      reply(status, payload);
    };

    if (method === 'GET' && url.pathname === '/v1/subscriptions') {
      const customer = url.searchParams.get('customer');
      if (!customer) return error(400, 'invalid_request_error', 'customer is required');
      const data = [...this.subscriptions.values()].filter((s) => s.customer === customer && s.status === (url.searchParams.get('status') ?? 'active'));
      return reply(200, { object: 'list', data: data.map((s) => this.subJson(s)), has_more: false, url: '/v1/subscriptions' });
    }
    const subMatch = /^\/v1\/subscriptions\/(sub_\w+)$/.exec(url.pathname);
    if (method === 'POST' && subMatch) {
      const sub = this.subscriptions.get(subMatch[1]!);
      if (!sub) return error(404, 'invalid_request_error', `No such subscription: '${subMatch[1]}'`);
      const itemId = params.get('items[0][id]');
      const price = params.get('items[0][price]');
      if (itemId !== null || price !== null) {
        const item = sub.items.find((i) => i.id === itemId);
        if (!item || !price) return remember(400, { error: { type: 'invalid_request_error', message: 'items[0][id] and items[0][price] are required together', param: 'items' } });
        item.price = price;
      }
      const pb = params.get('proration_behavior');
      if (pb !== null && !['create_prorations', 'none', 'always_invoice'].includes(pb)) return remember(400, { error: { type: 'invalid_request_error', message: 'invalid proration_behavior', param: 'proration_behavior' } });
      if (pb) sub.proration_behavior = pb;
      if (params.get('cancel_at_period_end') === 'true') sub.cancel_at_period_end = true;
      return remember(200, this.subJson(sub));
    }
    const balMatch = /^\/v1\/customers\/(cus_\w+)\/balance_transactions$/.exec(url.pathname);
    if (method === 'POST' && balMatch) {
      const amount = Number(params.get('amount'));
      const currency = params.get('currency') ?? '';
      if (!Number.isInteger(amount) || !/^[a-z]{3}$/.test(currency)) return remember(400, { error: { type: 'invalid_request_error', message: 'amount (integer) and currency (lowercase ISO) are required' } });
      const tx = { id: `cbtxn_${++this.seq}`, customer: balMatch[1]!, amount, currency, idempotencyKey: key ?? '' };
      this.balanceTransactions.push(tx);
      this.balances.set(tx.customer, (this.balances.get(tx.customer) ?? 0) + amount);
      return remember(200, { object: 'customer_balance_transaction', ...tx, ending_balance: this.balances.get(tx.customer) });
    }
    return error(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${url.pathname})`);
  }

  private subJson(s: Sub) {
    return {
      id: s.id,
      object: 'subscription',
      customer: s.customer,
      status: s.status,
      currency: s.currency,
      cancel_at_period_end: s.cancel_at_period_end,
      items: { object: 'list', data: s.items.map((i) => ({ id: i.id, object: 'subscription_item', price: { id: i.price, object: 'price' } })) },
    };
  }
}
