import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { signZendesk } from '../src/integrations/zendesk/signature';

/**
 * A local stand-in for the Zendesk Support API, used by the tests and by `lifecycle-desk demo`.
 * It checks every request the way Zendesk would: the path and method (Tickets API:
 * GET/PUT /api/v2/tickets/{id}.json, `?include=users` sideloading; Users API: GET
 * /api/v2/users/{id}.json with role, custom_role_id, active, suspended), Basic auth as
 * `{email}/token:{api_token}`, a JSON body shaped like the API reference (`ticket.comment` with a
 * string `body` and boolean `public`, `additional_tags`/`remove_tags` as arrays of strings, a
 * valid `status`). It keeps tickets' tags, comments and status so tests can assert what an agent
 * would see, and can answer 429 with Retry-After or 5xx on demand. Like Zendesk it refuses to
 * solve a ticket that has no assignee (422, nothing changed).
 *
 * With {@link ZendeskStandin.configureTrigger} it also plays the README's trigger: after a ticket
 * is created or updated, by an agent ({@link ZendeskStandin.createTicket},
 * {@link ZendeskStandin.agentUpdate}) or through the API (every successful PUT, which is what makes
 * real Zendesk echo the service's own notes and tags back to it), it renders the README's JSON body
 * from the ticket as it is now and posts it, signed, to the webhook. The README's safety condition
 * ("Current user is not" the API user) can be switched on to stop the echoes.
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
  /** Set on tickets created through the API with one (Tickets API `external_id`). */
  external_id?: string | null;
}

export interface StandinUser {
  id: number;
  name: string;
  email: string;
  /** Users API `role` (default `end-user`), `custom_role_id`, `active`, `suspended`. */
  role?: 'end-user' | 'agent' | 'admin';
  custom_role_id?: number | null;
  active?: boolean;
  suspended?: boolean;
}

export interface StandinRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly status: number;
  readonly body: unknown;
  /** When the request arrived (ms since the epoch). */
  readonly at: number;
}

/** How the stand-in misbehaves on purpose, like a busy Zendesk account. */
export interface StandinWeather {
  /** Share of requests (0–1) answered 429 with `retryAfter` seconds, at random. */
  readonly rate429?: number;
  readonly retryAfter?: number;
  /** Every answer waits this long (a slow Zendesk). */
  readonly delayMs?: number;
}

type Failure = { status: number; retryAfter?: number };

/** The README's "Notify webhook" trigger, as the stand-in plays it. */
export interface StandinTrigger {
  /** The service's `POST /webhooks/zendesk` URL. */
  readonly url: string;
  /** The webhook's signing secret. */
  readonly secret: string;
  /** Custom field ids the trigger body lists under `fields` (one per field of the field map). */
  readonly fieldIds: readonly (string | number)[];
  /** The README's condition "Current user is not <API user>": updates made with the API credentials do not fire. */
  readonly notApiUser?: boolean;
}

/** One trigger invocation and what the service answered. */
export interface TriggerDelivery {
  readonly ticketId: number;
  /** Who made the update that fired it. */
  readonly by: 'agent' | 'api';
  /** HTTP status of the last attempt (0: no answer). */
  readonly status: number;
  /** The service's answer body (`{"status": "created" | "unchanged" | …}`). */
  readonly answer: Record<string, unknown> | null;
}

/** A change an agent makes in the Zendesk UI. */
export interface AgentChange {
  /** Custom field values by field id; null clears a field. */
  readonly fields?: Readonly<Record<string, unknown>>;
  readonly addTags?: readonly string[];
  readonly removeTags?: readonly string[];
  readonly assignee_id?: number | null;
  /** A reply or note. */
  readonly comment?: { readonly body: string; readonly public: boolean };
  readonly status?: StandinTicket['status'];
}

const STATUSES = ['new', 'open', 'pending', 'hold', 'solved', 'closed'];

export class ZendeskStandin {
  readonly tickets = new Map<number, StandinTicket>();
  readonly users = new Map<number, StandinUser>();
  readonly requests: StandinRequest[] = [];
  /** Every trigger invocation, oldest first. */
  readonly triggerDeliveries: TriggerDelivery[] = [];
  private readonly failures: Failure[] = [];
  /** Requests being answered right now, and the most there ever were at once per path. */
  private readonly inFlight = new Map<string, number>();
  readonly maxInFlight = new Map<string, number>();
  weather: StandinWeather = {};
  private trigger: StandinTrigger | null = null;
  private readonly pending = new Set<Promise<void>>();

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

  /** Plays the README trigger from now on (null: no trigger). */
  configureTrigger(trigger: StandinTrigger | null): void {
    this.trigger = trigger;
  }

  /** Resolves once no trigger invocation is in flight (including those the answered ones caused). */
  async triggersIdle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** An agent (or the customer) creates a ticket: "Ticket is Created" fires the trigger. */
  createTicket(t: Partial<StandinTicket> & { id: number }): StandinTicket {
    const ticket = this.addTicket({ ...t, updated_at: this.stamp() });
    this.fire(ticket, 'agent');
    return ticket;
  }

  /** An agent edits a ticket in the Zendesk UI: "Ticket is Updated" fires the trigger. */
  agentUpdate(ticketId: number, change: AgentChange): StandinTicket {
    const ticket = this.tickets.get(ticketId);
    if (!ticket) throw new Error(`no ticket ${ticketId}`);
    for (const [id, value] of Object.entries(change.fields ?? {})) {
      const field = ticket.custom_fields.find((f) => f.id === Number(id));
      if (field) field.value = value;
      else ticket.custom_fields.push({ id: Number(id), value });
    }
    const remove = new Set(change.removeTags ?? []);
    ticket.tags = [...new Set([...ticket.tags.filter((x) => !remove.has(x)), ...(change.addTags ?? [])])];
    if (change.assignee_id !== undefined) ticket.assignee_id = change.assignee_id;
    if (change.comment) ticket.comments.push({ ...change.comment, at: new Date().toISOString() });
    if (change.status) ticket.status = change.status;
    ticket.updated_at = this.stamp();
    this.fire(ticket, 'agent');
    return ticket;
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
    this.trigger = null;
    await this.triggersIdle();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    const at = Date.now();
    const open = (this.inFlight.get(url.pathname) ?? 0) + 1;
    this.inFlight.set(url.pathname, open);
    this.maxInFlight.set(url.pathname, Math.max(open, this.maxInFlight.get(url.pathname) ?? 0));
    res.once('close', () => this.inFlight.set(url.pathname, (this.inFlight.get(url.pathname) ?? 1) - 1));
    if (this.weather.delayMs) await new Promise((r) => setTimeout(r, this.weather.delayMs));
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown = null;
    const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.search, status, body, at });
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(payload));
    };
    const failure =
      this.failures.shift() ??
      (this.weather.rate429 && Math.random() < this.weather.rate429 ? { status: 429, retryAfter: this.weather.retryAfter ?? 1 } : undefined);
    if (failure) {
      return reply(
        failure.status,
        { error: failure.status === 429 ? 'TooManyRequests' : 'InternalError', description: 'stand-in failure' },
        failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : {},
      );
    }
    const expected = `Basic ${Buffer.from(`${this.email}/token:${this.token}`).toString('base64')}`;
    if (req.headers.authorization !== expected) return reply(401, { error: "Couldn't authenticate you" });
    const u = /^\/api\/v2\/users\/(\d+)\.json$/.exec(url.pathname);
    if (u) {
      if (req.method !== 'GET') return reply(405, { error: 'MethodNotAllowed' });
      const user = this.users.get(Number(u[1]));
      if (!user) return reply(404, { error: 'RecordNotFound', description: 'Not found' });
      return reply(200, { user: { role: 'end-user', custom_role_id: null, active: true, suspended: false, ...user } });
    }
    if (url.pathname === '/api/v2/tickets.json') return this.ticketsCollection(req, url, raw, reply);
    const m = /^\/api\/v2\/tickets\/(\d+)\.json$/.exec(url.pathname);
    if (!m) return reply(404, { error: 'InvalidEndpoint', description: `Not found: ${url.pathname}` });
    const ticket = this.tickets.get(Number(m[1]));
    if (!ticket) return reply(404, { error: 'RecordNotFound', description: 'Not found' });

    if (req.method === 'GET') {
      const include = url.searchParams.get('include');
      const users =
        include === 'users' ? [ticket.requester_id, ticket.assignee_id].map((id) => (id === null ? undefined : this.users.get(id))).filter(Boolean) : undefined;
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
    if (problems.length)
      return reply(422, {
        error: 'RecordInvalid',
        description: 'Record validation errors',
        details: { base: problems.map((description) => ({ description })) },
      });
    const t = (body as { ticket: Record<string, unknown> }).ticket;
    if (t.status === 'solved' && ticket.assignee_id === null) {
      // Zendesk validates the whole update first: the refusal changes nothing, note and tags included.
      return reply(422, {
        error: 'RecordInvalid',
        description: 'Record validation errors',
        details: { assignee: [{ description: 'Assignee: is required when solving a ticket', error: 'BlankValue' }] },
      });
    }
    const comment = t.comment as { body: string; public?: boolean } | undefined;
    if (comment) ticket.comments.push({ body: comment.body, public: comment.public !== false, at: new Date().toISOString() });
    const remove = new Set((t.remove_tags as string[] | undefined) ?? []);
    ticket.tags = [...new Set([...ticket.tags.filter((x) => !remove.has(x)), ...((t.additional_tags as string[] | undefined) ?? [])])];
    if (typeof t.status === 'string') ticket.status = t.status as StandinTicket['status'];
    ticket.updated_at = this.stamp();
    const { comments: _c, ...api } = ticket;
    reply(200, { ticket: api, audit: { events: [] } });
    this.fire(ticket, 'api');
  }

  /**
   * `GET /api/v2/tickets.json?external_id=…` (List Tickets filtered by external id, cursor
   * pagination shape) and `POST /api/v2/tickets.json` (Create Ticket: `ticket.comment.body`
   * required, `subject`, `external_id`, `tags`; 201 with the ticket). Creating does not fire the
   * trigger (the follow-ups it creates carry no request fields).
   */
  private ticketsCollection(req: IncomingMessage, url: URL, raw: string, reply: (status: number, payload: unknown) => void): void {
    if (req.method === 'GET') {
      const externalId = url.searchParams.get('external_id');
      if (externalId === null) return reply(400, { error: 'InvalidParameter', description: 'the stand-in lists tickets by external_id only' });
      const found = [...this.tickets.values()].filter((t) => t.external_id === externalId).map(({ comments: _c, ...api }) => api);
      return reply(200, { tickets: found, meta: { has_more: false, after_cursor: null, before_cursor: null }, links: { next: null, prev: null } });
    }
    if (req.method !== 'POST') return reply(405, { error: 'MethodNotAllowed' });
    if (!String(req.headers['content-type'] ?? '').includes('application/json')) return reply(415, { error: 'UnsupportedMediaType' });
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return reply(400, { error: 'InvalidJSON', description: 'The body is not JSON' });
    }
    const t = (body as { ticket?: Record<string, unknown> } | null)?.ticket;
    const problems: string[] = [];
    if (!t || typeof t !== 'object') problems.push('body must be {"ticket": {...}}');
    else {
      const allowed = new Set(['subject', 'comment', 'external_id', 'tags', 'requester_id', 'priority', 'type']);
      for (const k of Object.keys(t)) if (!allowed.has(k)) problems.push(`unexpected ticket property ${k}`);
      const c = t.comment as { body?: unknown; public?: unknown } | undefined;
      if (!c || typeof c.body !== 'string' || !c.body.trim()) problems.push('comment.body is required');
      if (c && c.public !== undefined && typeof c.public !== 'boolean') problems.push('comment.public must be a boolean');
      if (t.external_id !== undefined && typeof t.external_id !== 'string') problems.push('external_id must be a string');
      if (t.tags !== undefined && (!Array.isArray(t.tags) || t.tags.some((x) => typeof x !== 'string' || !/^[^\s,]+$/.test(x))))
        problems.push('tags must be an array of tags without spaces');
    }
    if (problems.length)
      return reply(422, {
        error: 'RecordInvalid',
        description: 'Record validation errors',
        details: { base: problems.map((description) => ({ description })) },
      });
    const id = Math.max(100_000, ...this.tickets.keys()) + 1;
    const c = t!.comment as { body: string; public?: boolean };
    const ticket = this.addTicket({
      id,
      subject: typeof t!.subject === 'string' ? t!.subject : c.body.slice(0, 60),
      status: 'new',
      tags: (t!.tags as string[] | undefined) ?? [],
      external_id: (t!.external_id as string | undefined) ?? null,
      comments: [{ body: c.body, public: c.public !== false, at: new Date().toISOString() }],
      updated_at: this.stamp(),
    });
    const { comments: _c, ...api } = ticket;
    reply(201, { ticket: api, audit: { events: [] } });
  }

  /** Zendesk timestamps have whole seconds. */
  private stamp(): string {
    return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  /** The README trigger body for the ticket as it is now (placeholders render as strings, unset as ""). */
  triggerBody(ticket: StandinTicket, fieldIds: readonly (string | number)[]): Record<string, unknown> {
    const user = (id: number | null) => (id === null ? undefined : this.users.get(id));
    const render = (v: unknown): string => (v === null || v === undefined ? '' : Array.isArray(v) ? v.join(' ') : String(v));
    const fields: Record<string, string> = {};
    for (const id of fieldIds) fields[String(id)] = render(ticket.custom_fields.find((f) => f.id === Number(id))?.value);
    return {
      lifecycle_desk: 1,
      ticket: {
        id: String(ticket.id),
        updated_at: ticket.updated_at,
        tags: ticket.tags.join(' '),
        subject: ticket.subject,
        requester: { email: user(ticket.requester_id)?.email ?? '', name: user(ticket.requester_id)?.name ?? '' },
        assignee_email: user(ticket.assignee_id)?.email ?? '',
        fields,
      },
    };
  }

  /** Fires the trigger for this update, after the update is answered, as Zendesk does (asynchronously, retrying 5xx/429/409). */
  private fire(ticket: StandinTicket, by: 'agent' | 'api'): void {
    const trigger = this.trigger;
    if (!trigger || (by === 'api' && trigger.notApiUser)) return;
    // Rendered now: the body shows the ticket as this update left it.
    const raw = JSON.stringify(this.triggerBody(ticket, trigger.fieldIds));
    const invocation = randomUUID();
    const send = async () => {
      let status = 0;
      let answer: Record<string, unknown> | null = null;
      for (let attempt = 1; attempt <= 4; attempt++) {
        const ts = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
        try {
          const res = await fetch(trigger.url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'x-zendesk-webhook-signature': signZendesk(trigger.secret, ts, raw),
              'x-zendesk-webhook-signature-timestamp': ts,
              'x-zendesk-webhook-invocation-id': invocation,
            },
            body: raw,
          });
          status = res.status;
          answer = (await res.json().catch(() => null)) as Record<string, unknown> | null;
          if (status < 500 && status !== 429 && status !== 409) break;
        } catch {
          status = 0;
        }
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
      this.triggerDeliveries.push({ ticketId: ticket.id, by, status, answer });
    };
    const p: Promise<void> = send().finally(() => this.pending.delete(p));
    this.pending.add(p);
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
    if (v !== undefined && (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || !/^[^\s,]+$/.test(s))))
      p.push(`${k} must be an array of tags without spaces`);
  }
  if (x.status !== undefined && !STATUSES.includes(x.status as string)) p.push(`status must be one of ${STATUSES.join(', ')}`);
  return p;
}
