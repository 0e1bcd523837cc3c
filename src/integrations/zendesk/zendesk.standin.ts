import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the Zendesk Support API, used by the tests and by `lifecycle-desk demo`.
 * It checks every request the way Zendesk would: the path and method (Tickets API:
 * GET/PUT /api/v2/tickets/{id}.json, `?include=users` sideloading), Basic auth as
 * `{email}/token:{api_token}`, a JSON body shaped like the API reference (`ticket.comment` with a
 * string `body` and boolean `public`, `additional_tags`/`remove_tags` as arrays of strings, a
 * valid `status`). It keeps tickets' tags, comments and status so tests can assert what an agent
 * would see, and can answer 429 with Retry-After or 5xx on demand.
 */

export interface StandinTicket {
  id: number;
  subject: string;
  status: 'new' | 'open' | 'pending' | 'hold' | 'solved' | 'closed';
  tags: string[];
  requester_id: number;
  assignee_id: number | null;
  custom_fields: { id: number; value: unknown }[];
  comments: { body: string; public: boolean; at: string }[];
  updated_at: string;
}

export interface StandinUser {
  id: number;
  name: string;
  email: string;
}

export interface StandinRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly status: number;
  readonly body: unknown;
}

type Failure = { status: number; retryAfter?: number };

const STATUSES = ['new', 'open', 'pending', 'hold', 'solved', 'closed'];

export class ZendeskStandin {
  readonly tickets = new Map<number, StandinTicket>();
  readonly users = new Map<number, StandinUser>();
  readonly requests: StandinRequest[] = [];
  private readonly failures: Failure[] = [];

  private constructor(
    private readonly server: Server,
    readonly origin: string,
    private readonly email: string,
    private readonly token: string,
  ) {}

  static async start(opts: { email: string; token: string }): Promise<ZendeskStandin> {
    const holder: { z?: ZendeskStandin } = {};
    const server = createServer((req, res) => void holder.z!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    holder.z = new ZendeskStandin(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, opts.email, opts.token);
    return holder.z;
  }

  /** For ZENDESK_API_URL. */
  get apiUrl(): string {
    return `${this.origin}/api/v2`;
  }

  /** The next `times` requests fail with this status (and Retry-After seconds for 429). */
  failNext(failure: Failure, times = 1): void {
    for (let i = 0; i < times; i++) this.failures.push(failure);
  }

  /** Private comments on a ticket, oldest first. */
  notes(ticketId: number): string[] {
    return (this.tickets.get(ticketId)?.comments ?? []).filter((c) => !c.public).map((c) => c.body);
  }

  addTicket(t: Partial<StandinTicket> & { id: number }): StandinTicket {
    const ticket: StandinTicket = {
      subject: 'Account change',
      status: 'open',
      tags: [],
      requester_id: 1,
      assignee_id: null,
      custom_fields: [],
      comments: [],
      updated_at: new Date().toISOString(),
      ...t,
    };
    this.tickets.set(ticket.id, ticket);
    return ticket;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown = null;
    const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.search, status, body });
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(payload));
    };
    const failure = this.failures.shift();
    if (failure) {
      return reply(failure.status, { error: failure.status === 429 ? 'TooManyRequests' : 'InternalError', description: 'stand-in failure' }, failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : {});
    }
    const expected = `Basic ${Buffer.from(`${this.email}/token:${this.token}`).toString('base64')}`;
    if (req.headers.authorization !== expected) return reply(401, { error: "Couldn't authenticate you" });
    const m = /^\/api\/v2\/tickets\/(\d+)\.json$/.exec(url.pathname);
    if (!m) return reply(404, { error: 'InvalidEndpoint', description: `Not found: ${url.pathname}` });
    const ticket = this.tickets.get(Number(m[1]));
    if (!ticket) return reply(404, { error: 'RecordNotFound', description: 'Not found' });

    if (req.method === 'GET') {
      const include = url.searchParams.get('include');
      const users = include === 'users' ? [ticket.requester_id, ticket.assignee_id].map((id) => (id === null ? undefined : this.users.get(id))).filter(Boolean) : undefined;
      const { comments: _c, ...api } = ticket;
      return reply(200, { ticket: api, ...(users ? { users } : {}) });
    }
    if (req.method !== 'PUT') return reply(405, { error: 'MethodNotAllowed' });
    if (!String(req.headers['content-type'] ?? '').includes('application/json')) return reply(415, { error: 'UnsupportedMediaType' });
    try {
      body = JSON.parse(raw);
    } catch {
      return reply(400, { error: 'InvalidJSON', description: 'The body is not JSON' });
    }
    const problems = checkUpdate(body);
    if (problems.length) return reply(422, { error: 'RecordInvalid', description: 'Record validation errors', details: { base: problems.map((description) => ({ description })) } });
    const t = (body as { ticket: Record<string, unknown> }).ticket;
    const comment = t.comment as { body: string; public?: boolean } | undefined;
    if (comment) ticket.comments.push({ body: comment.body, public: comment.public !== false, at: new Date().toISOString() });
    const remove = new Set((t.remove_tags as string[] | undefined) ?? []);
    ticket.tags = [...new Set([...ticket.tags.filter((x) => !remove.has(x)), ...((t.additional_tags as string[] | undefined) ?? [])])];
    if (typeof t.status === 'string') ticket.status = t.status as StandinTicket['status'];
    ticket.updated_at = new Date().toISOString();
    const { comments: _c, ...api } = ticket;
    return reply(200, { ticket: api, audit: { events: [] } });
  }
}

/** What Zendesk's Tickets API would refuse in an update body. */
function checkUpdate(body: unknown): string[] {
  const p: string[] = [];
  const t = (body as { ticket?: unknown } | null)?.ticket;
  if (!t || typeof t !== 'object' || Array.isArray(t)) return ['body must be {"ticket": {...}}'];
  const allowed = new Set(['comment', 'additional_tags', 'remove_tags', 'status', 'tags', 'custom_fields']);
  for (const k of Object.keys(t)) if (!allowed.has(k)) p.push(`unexpected ticket property ${k}`);
  const x = t as Record<string, unknown>;
  if (x.comment !== undefined) {
    const c = x.comment as Record<string, unknown>;
    if (!c || typeof c.body !== 'string' || !c.body.trim()) p.push('comment.body must be a non-empty string');
    if (c && c.public !== undefined && typeof c.public !== 'boolean') p.push('comment.public must be a boolean');
  }
  for (const k of ['additional_tags', 'remove_tags']) {
    const v = x[k];
    if (v !== undefined && (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || !/^[^\s,]+$/.test(s)))) p.push(`${k} must be an array of tags without spaces`);
  }
  if (x.status !== undefined && !STATUSES.includes(x.status as string)) p.push(`status must be one of ${STATUSES.join(', ')}`);
  return p;
}
