import { createClient } from 'node-zendesk';
import type { ZendeskClient as NodeZendesk } from 'node-zendesk';
import { retryAfterMs } from '../http/retry-after';
import { AppError, RateLimitedError, StatusRefusedError } from '../../records/errors';
import type { Helpdesk, PublicReplyChannel, TicketUpdate } from '../../records/ports';
import { ticketSnapshotFromApi } from './payload';
import type { ApiTicket, TicketSnapshot } from './payload';
import type { ZendeskUser } from './zaf-directory';

export interface ZendeskClientOptions {
  /** API base, e.g. https://acme.zendesk.com/api/v2 (ZENDESK_API_URL, or derived from ZENDESK_SUBDOMAIN). */
  readonly baseUrl: string;
  readonly email: string;
  readonly apiToken: string;
  /** Per request. */
  readonly timeoutMs?: number;
  /**
   * Attempts within one call for a 5xx or network failure, made at once (never after a sleep)
   * before the failure goes back to the job, whose queue retries it later. Default 1. A 429 is
   * never retried here: it becomes a RateLimitedError and the queue waits.
   */
  readonly maxAttempts?: number;
}

/** What an HTTP failure looked like, carried out of node-zendesk's transport. */
class ZendeskHttpError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterSeconds: number | null,
    readonly detail: string,
    /** For 422 RecordInvalid: what Zendesk said about each field ("Assignee: is required…"). */
    readonly reasons: readonly string[] = [],
  ) {
    super(`Zendesk answered ${status}${detail ? `: ${detail}` : ''}${reasons.length ? ` (${reasons.join('; ')})` : ''}`);
  }
}

/** `details` of a 422 RecordInvalid: `{ "<field>": [{ "description": "…" }] }`. */
function validationReasons(details: unknown): string[] {
  if (!details || typeof details !== 'object') return [];
  const out: string[] = [];
  for (const list of Object.values(details as Record<string, unknown>)) {
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      const d = (item as { description?: unknown } | null)?.description;
      if (typeof d === 'string' && d.trim()) out.push(d.trim().slice(0, 200));
    }
  }
  return out.slice(0, 5);
}

/** Used when a 429 carries no Retry-After (Zendesk's own answers always carry one). */
const DEFAULT_RETRY_AFTER_MS = 10_000;

/**
 * node-zendesk turns a 429 into a generic error and treats statuses it does not know (502, 504…)
 * as success. Its transport is pluggable, so ours fetches with a timeout and fails every
 * non-2xx response with the status and Retry-After intact; the retry policy is ours.
 */
function transport(timeoutMs: number) {
  return {
    transportFn: (uri: string, options: RequestInit) => fetch(uri, { ...options, signal: AbortSignal.timeout(timeoutMs) }),
    responseAdapter: (res: Response) => ({
      status: res.status,
      statusText: res.statusText,
      headers: { get: (h: string) => (h.toLowerCase() === 'content-type' && !res.ok ? 'application/json' : res.headers.get(h)) },
      json: async () => {
        if (res.ok) return res.json();
        const retryAfter = retryAfterMs(res.headers.get('retry-after'), new Date());
        const body = (await res.text().catch(() => '')).slice(0, 300);
        let detail: string;
        let reasons: string[] = [];
        try {
          const j = JSON.parse(body) as { error?: unknown; description?: unknown; details?: unknown };
          detail = [j.error, j.description].filter((x) => typeof x === 'string').join(': ');
          reasons = validationReasons(j.details);
        } catch {
          detail = '';
        }
        throw new ZendeskHttpError(res.status, retryAfter === null ? null : retryAfter / 1000, detail, reasons);
      },
    }),
  };
}

/**
 * The Zendesk side of Lifecycle Desk: read a ticket (with its requester), and update one in a
 * single request (private note, tags, status). Honours 429 Retry-After, retries 5xx and network
 * errors, and reports what is left as AppError('provider_failed') with `retryable`, never with
 * credentials or customer addresses in the message. It never sleeps: a 429 becomes a
 * RateLimitedError carrying Retry-After, and the job's queue waits (see src/jobs/worker.ts).
 */
export class ZendeskClient implements Helpdesk, PublicReplyChannel {
  private readonly reader: NodeZendesk;
  private readonly writer: NodeZendesk;
  private readonly maxAttempts: number;

  constructor(opts: ZendeskClientOptions) {
    const base = {
      username: opts.email,
      token: opts.apiToken,
      endpointUri: opts.baseUrl.replace(/\/+$/, ''),
      transportConfig: transport(opts.timeoutMs ?? 8000),
      // Our transport's errors carry status and Retry-After; node-zendesk would wrap them in a plain Error.
      throwOriginalException: true,
      logger: { fatal() {}, error() {}, warn() {}, info() {}, debug() {}, trace() {} },
    };
    this.reader = createClient(base);
    this.writer = createClient(base);
    this.reader.tickets.setSideLoad(['users']);
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 1);
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const http = err instanceof ZendeskHttpError ? err : null;
        const status = http?.status ?? (err as { statusCode?: number }).statusCode ?? null;
        if (status === 429) {
          const after =
            http?.retryAfterSeconds !== null && http?.retryAfterSeconds !== undefined ? Math.max(0, http.retryAfterSeconds * 1000) : DEFAULT_RETRY_AFTER_MS;
          throw new RateLimitedError('zendesk', after, `Zendesk ${what}: rate limited (429), retry after ${Math.ceil(after / 1000)} s`, err);
        }
        const retryable = status === null || status >= 500 || status === 408 || status === 409;
        if (!retryable) {
          const detail = status === 404 ? 'not found (deleted, or the id is wrong)' : (http?.message ?? `Zendesk answered ${status}`);
          throw new AppError('provider_failed', `Zendesk ${what}: ${detail}`, { retryable: false, cause: err, details: { status } });
        }
        if (attempt >= this.maxAttempts) {
          throw new AppError(
            'provider_failed',
            `Zendesk ${what} failed after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${http?.message ?? (err as Error).message}`,
            {
              retryable: true,
              details: { status },
            },
          );
        }
      }
    }
  }

  /** A user as the Users API describes them (the sidebar's identity check). */
  async getUser(userId: string): Promise<ZendeskUser> {
    const { result } = await this.call(`user ${userId} read`, () => this.reader.users.show(Number(userId)));
    const u = result as unknown as {
      id: number;
      email?: string | null;
      name?: string | null;
      role?: string;
      custom_role_id?: number | null;
      active?: boolean;
      suspended?: boolean;
    };
    return {
      id: u.id,
      email: u.email ?? null,
      name: u.name ?? null,
      role: String(u.role ?? ''),
      custom_role_id: u.custom_role_id ?? null,
      active: u.active !== false,
      suspended: u.suspended === true,
    };
  }

  async getTicket(ticketId: string): Promise<TicketSnapshot> {
    const { result } = await this.call(`ticket ${ticketId} read`, () => this.reader.tickets.show(Number(ticketId)));
    const ticket = result as unknown as ApiTicket & {
      requester?: { id: number; email?: string; name?: string } | null;
      assignee?: { id: number; email?: string; name?: string } | null;
    };
    const users = [ticket.requester, ticket.assignee].filter((u): u is { id: number; email?: string; name?: string } => !!u && typeof u === 'object');
    return ticketSnapshotFromApi(ticket, users);
  }

  /**
   * A public comment on the ticket (authored by the API user): Zendesk emails it to the requester
   * and CCs with its own threading, so the customer's reply lands on this ticket. The ticket's
   * status and tags are left alone; the text part is the comment body.
   */
  async postPublicReply(ticketId: string, message: { subject: string; text: string; html: string }): Promise<{ response: string }> {
    const ticket = { comment: { body: message.text, public: true } };
    await this.call(`ticket ${ticketId} public reply`, () => this.writer.tickets.update(Number(ticketId), { ticket } as never));
    return { response: `zendesk public comment on ticket ${ticketId}` };
  }

  /**
   * A new ticket for the team (a follow-up), at most once per `key`: the key is the ticket's
   * `external_id`, and a ticket already carrying it is returned instead of creating another (a
   * job retried after the create answered is not a second ticket). The comment is private.
   */
  async createFollowUpTicket(followUp: { key: string; subject: string; body: string; tags?: readonly string[] }): Promise<{ ref: string; created: boolean }> {
    const existing = await this.call(`tickets by external_id read`, () => this.reader.tickets.listWithFilter('external_id', followUp.key));
    const found = (existing as unknown as { id: number }[]).find((t) => t && typeof t.id === 'number');
    if (found) return { ref: String(found.id), created: false };
    const ticket = { subject: followUp.subject, comment: { body: followUp.body, public: false }, external_id: followUp.key, tags: [...(followUp.tags ?? [])] };
    const { result } = await this.call('follow-up ticket create', () => this.writer.tickets.create({ ticket } as never));
    return { ref: String((result as unknown as { id: number }).id), created: true };
  }

  async updateTicket(ticketId: string, update: TicketUpdate): Promise<void> {
    const ticket: Record<string, unknown> = {};
    if (update.internalNote) ticket.comment = { body: update.internalNote, public: false };
    if (update.addTags?.length) ticket.additional_tags = update.addTags;
    if (update.removeTags?.length) ticket.remove_tags = update.removeTags;
    if (update.status) ticket.status = update.status;
    if (Object.keys(ticket).length === 0) return;
    try {
      await this.call(`ticket ${ticketId} update`, () => this.writer.tickets.update(Number(ticketId), { ticket } as never));
    } catch (err) {
      // Zendesk validates an update as a whole: a status it refuses (solved without an assignee)
      // fails the note and tags with it. Say so, so the caller can send them without the status.
      const http = err instanceof AppError && err.options.cause instanceof ZendeskHttpError ? err.options.cause : null;
      if (update.status && http?.status === 422) {
        throw new StatusRefusedError(update.status, http.reasons.join('; ') || http.detail || 'Zendesk answered 422', err);
      }
      throw err;
    }
  }
}

/** The API base for a subdomain, unless ZENDESK_API_URL overrides it. */
export function zendeskBaseUrl(subdomain: string | undefined, apiUrl: string | undefined): string | null {
  if (apiUrl) return apiUrl.replace(/\/+$/, '').replace(/(\/api\/v2)?$/, '/api/v2');
  return subdomain ? `https://${subdomain}.zendesk.com/api/v2` : null;
}

/**
 * Agent-facing ticket link for Slack messages: always the agent workspace of the subdomain
 * (`https://<subdomain>.zendesk.com/agent/tickets/<id>`), never ZENDESK_API_URL, which may point
 * at a proxy or a local stand-in agents cannot open. No subdomain (or not a valid one): no link.
 */
export function zendeskTicketUrl(subdomain: string | undefined): (ticketId: string) => string | null {
  const sub = subdomain
    ?.trim()
    .toLowerCase()
    .replace(/\.zendesk\.com$/, '');
  const origin = sub && /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(sub) ? `https://${sub}.zendesk.com` : null;
  return (id) => (origin ? `${origin}/agent/tickets/${encodeURIComponent(id)}` : null);
}
