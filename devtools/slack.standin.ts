import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { slackSignatureHeaders } from '../src/integrations/slack/signature';

/**
 * It ships in src/ because `lifecycle-desk demo` runs the whole pipeline against it.
 *
 * A local stand-in for the Slack Web API, reached through the real `@slack/web-api` client
 * (`new WebClient(token, { slackApiUrl: fake.url })`, or Bolt's `clientOptions.slackApiUrl`).
 *
 * It accepts what the client really sends: `POST /api/<method>`, body form-encoded
 * (`application/x-www-form-urlencoded`, nested values such as `blocks` and `view` as JSON strings)
 * or JSON, token in `Authorization: Bearer …` (or a `token` form field). Each call is checked
 * against Slack's method reference (required arguments, types, Block Kit limits) and answered
 * the way Slack answers: HTTP 200 with `{ ok: false, error }` for refusals, 429 + `Retry-After`
 * when rate limiting is simulated, 404 for unknown methods.
 *
 * Every request is recorded in `calls`, refused ones included (`ok: false` and the `error`).
 * Array/object arguments are stored parsed, so tests assert on the Block Kit users would see.
 */

export interface FakeSlackUser {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly real_name?: string;
  readonly is_bot?: boolean;
  readonly deleted?: boolean;
}

export interface FakeSlackCall {
  readonly method: string;
  /** Arguments as the API understood them: JSON-string arguments (`blocks`, `view`…) parsed. */
  readonly args: Record<string, unknown>;
  /** Bearer token (or `token` field) the call carried; '' when none. */
  readonly token: string;
  readonly contentType: string;
  readonly status: number;
  readonly ok: boolean;
  readonly error?: string;
  /** Slack-style `[ERROR] … [json-pointer:/…]` messages for refused arguments. */
  readonly messages?: readonly string[];
}

export interface FakeSlackMessage {
  readonly channel: string;
  readonly ts: string;
  text: string;
  blocks: unknown[];
  readonly thread_ts?: string;
  /** Every chat.update applied to this message, oldest first. */
  readonly updates: { text: string; blocks: unknown[] }[];
}

export interface FakeSlackResponseUrlPost {
  readonly url: string;
  readonly body: Record<string, unknown>;
}

/** What the next calls of a method get instead of a normal answer. */
export type FakeSlackFailure = { readonly status: 429; readonly retryAfter: number } | { readonly status: 500 | 502 | 503 } | { readonly error: string };

export interface FakeSlackOptions {
  /** The only bot token accepted; anything else gets `invalid_auth`. */
  readonly token: string;
  readonly teamId?: string;
  readonly botUserId?: string;
  readonly botId?: string;
}

type Json = Record<string, unknown>;
type Outcome = { status: number; body: Json; headers?: Record<string, string> };

class ArgError extends Error {
  constructor(
    readonly code: string,
    readonly messages: string[],
  ) {
    super(`${code}: ${messages.join('; ')}`);
  }
}

const BLOCK_TYPES = new Set([
  'actions',
  'alert',
  'card',
  'carousel',
  'container',
  'context',
  'context_actions',
  'data_table',
  'divider',
  'file',
  'header',
  'image',
  'input',
  'markdown',
  'plan',
  'rich_text',
  'section',
  'table',
  'task_card',
  'video',
]);

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Block Kit checks Slack applies before accepting a surface. Not the whole schema: the parts an
 * app gets wrong in practice (types, required fields, lengths, counts, duplicate ids).
 */
export function blockKitProblems(blocks: unknown, surface: 'message' | 'modal' | 'home', pointer = '/blocks'): string[] {
  const problems: string[] = [];
  const err = (path: string, message: string) => problems.push(`[ERROR] ${message} [json-pointer:${path}]`);
  if (!Array.isArray(blocks)) {
    err(pointer, 'expected an array of blocks');
    return problems;
  }
  const max = surface === 'message' ? 50 : 100;
  if (blocks.length > max) err(pointer, `no more than ${max} items allowed`);
  const blockIds = new Set<string>();

  const text = (path: string, v: unknown, opts: { max: number; plainOnly?: boolean; required?: boolean }) => {
    if (v === undefined) {
      if (opts.required !== false) err(path, 'missing required field: text object');
      return;
    }
    if (!isObject(v)) return err(path, 'expected a text object');
    if (v.type !== 'plain_text' && v.type !== 'mrkdwn') return err(`${path}/type`, 'must be plain_text or mrkdwn');
    if (opts.plainOnly && v.type !== 'plain_text') return err(`${path}/type`, 'must be plain_text');
    if (typeof v.text !== 'string' || v.text.length === 0) return err(`${path}/text`, 'must be a non-empty string');
    if (v.text.length > opts.max) err(`${path}/text`, `must be less than ${opts.max + 1} characters`);
    if (v.verbatim !== undefined && (v.type !== 'mrkdwn' || typeof v.verbatim !== 'boolean')) err(`${path}/verbatim`, 'only a boolean on mrkdwn');
    if (v.emoji !== undefined && (v.type !== 'plain_text' || typeof v.emoji !== 'boolean')) err(`${path}/emoji`, 'only a boolean on plain_text');
  };
  const str = (path: string, v: unknown, max: number, required = false) => {
    if (v === undefined) {
      if (required) err(path, 'missing required field');
      return;
    }
    if (typeof v !== 'string') return err(path, 'must be a string');
    if (v.length > max) err(path, `must be less than ${max + 1} characters`);
  };
  const confirm = (path: string, v: unknown) => {
    if (v === undefined) return;
    if (!isObject(v)) return err(path, 'expected a confirmation dialog object');
    text(`${path}/title`, v.title, { max: 100, plainOnly: true, required: false });
    text(`${path}/text`, v.text, { max: 300 });
    text(`${path}/confirm`, v.confirm, { max: 30, plainOnly: true, required: false });
    text(`${path}/deny`, v.deny, { max: 30, plainOnly: true, required: false });
    if (v.style !== undefined && v.style !== 'primary' && v.style !== 'danger') err(`${path}/style`, 'must be primary or danger');
  };
  const element = (path: string, v: unknown, actionIds: Set<string>) => {
    if (!isObject(v) || typeof v.type !== 'string') return err(path, 'expected an element with a type');
    if (v.action_id !== undefined) {
      str(`${path}/action_id`, v.action_id, 255);
      if (typeof v.action_id === 'string') {
        if (actionIds.has(v.action_id)) err(`${path}/action_id`, `duplicate action_id ${v.action_id}`);
        actionIds.add(v.action_id);
      }
    }
    switch (v.type) {
      case 'button':
        text(`${path}/text`, v.text, { max: 75, plainOnly: true });
        str(`${path}/value`, v.value, 2000);
        str(`${path}/url`, v.url, 3000);
        str(`${path}/accessibility_label`, v.accessibility_label, 75);
        if (v.style !== undefined && v.style !== 'primary' && v.style !== 'danger') err(`${path}/style`, 'must be primary or danger');
        confirm(`${path}/confirm`, v.confirm);
        break;
      case 'plain_text_input':
        if (v.multiline !== undefined && typeof v.multiline !== 'boolean') err(`${path}/multiline`, 'must be a boolean');
        for (const k of ['min_length', 'max_length'] as const) {
          const n = v[k];
          if (n !== undefined && (!Number.isInteger(n) || (n as number) < 0 || (n as number) > 3000)) err(`${path}/${k}`, 'must be an integer from 0 to 3000');
        }
        str(`${path}/initial_value`, v.initial_value, 3000);
        text(`${path}/placeholder`, v.placeholder, { max: 150, plainOnly: true, required: false });
        break;
      case 'image':
        str(`${path}/alt_text`, v.alt_text, 2000, true);
        break;
      default:
        confirm(`${path}/confirm`, v.confirm);
    }
  };

  blocks.forEach((block, i) => {
    const path = `${pointer}/${i}`;
    if (!isObject(block) || typeof block.type !== 'string') return err(path, 'expected a block object with a type');
    if (!BLOCK_TYPES.has(block.type)) return err(`${path}/type`, `unknown block type "${block.type}"`);
    if (block.block_id !== undefined) {
      str(`${path}/block_id`, block.block_id, 255);
      if (typeof block.block_id === 'string') {
        if (blockIds.has(block.block_id)) err(`${path}/block_id`, `duplicate block_id ${block.block_id}`);
        blockIds.add(block.block_id);
      }
    }
    const actionIds = new Set<string>();
    switch (block.type) {
      case 'section': {
        if (block.text === undefined && block.fields === undefined) err(path, 'a section needs text or fields');
        if (block.text !== undefined) text(`${path}/text`, block.text, { max: 3000 });
        if (block.fields !== undefined) {
          if (!Array.isArray(block.fields)) err(`${path}/fields`, 'must be an array');
          else {
            if (block.fields.length > 10) err(`${path}/fields`, 'no more than 10 items allowed');
            block.fields.forEach((f, j) => text(`${path}/fields/${j}`, f, { max: 2000 }));
          }
        }
        if (block.accessory !== undefined) element(`${path}/accessory`, block.accessory, actionIds);
        break;
      }
      case 'header':
        text(`${path}/text`, block.text, { max: 150, plainOnly: true });
        break;
      case 'context':
        if (!Array.isArray(block.elements) || block.elements.length === 0) err(`${path}/elements`, 'must be a non-empty array');
        else {
          if (block.elements.length > 10) err(`${path}/elements`, 'no more than 10 items allowed');
          block.elements.forEach((e, j) =>
            isObject(e) && e.type === 'image' ? element(`${path}/elements/${j}`, e, actionIds) : text(`${path}/elements/${j}`, e, { max: 3000 }),
          );
        }
        break;
      case 'actions':
        if (!Array.isArray(block.elements) || block.elements.length === 0) err(`${path}/elements`, 'must be a non-empty array');
        else {
          if (block.elements.length > 25) err(`${path}/elements`, 'no more than 25 items allowed');
          block.elements.forEach((e, j) => element(`${path}/elements/${j}`, e, actionIds));
        }
        break;
      case 'input':
        text(`${path}/label`, block.label, { max: 2000, plainOnly: true });
        text(`${path}/hint`, block.hint, { max: 2000, plainOnly: true, required: false });
        if (block.optional !== undefined && typeof block.optional !== 'boolean') err(`${path}/optional`, 'must be a boolean');
        if (block.element === undefined) err(`${path}/element`, 'missing required field: element');
        else element(`${path}/element`, block.element, actionIds);
        break;
      case 'image':
        str(`${path}/alt_text`, block.alt_text, 2000, true);
        break;
      case 'markdown':
        str(`${path}/text`, block.text, 12000, true);
        break;
      default:
        break;
    }
  });
  return problems;
}

/** Checks a view object for views.open / views.publish. */
function viewProblems(view: unknown, expected: 'modal' | 'home'): string[] {
  const problems: string[] = [];
  const err = (path: string, message: string) => problems.push(`[ERROR] ${message} [json-pointer:${path}]`);
  if (!isObject(view)) return ['[ERROR] view must be a JSON object [json-pointer:/view]'];
  if (view.type !== expected) err('/view/type', `must be ${expected}`);
  if (view.private_metadata !== undefined && (typeof view.private_metadata !== 'string' || view.private_metadata.length > 3000)) {
    err('/view/private_metadata', 'must be a string of at most 3000 characters');
  }
  if (view.callback_id !== undefined && (typeof view.callback_id !== 'string' || view.callback_id.length > 255)) {
    err('/view/callback_id', 'must be a string of at most 255 characters');
  }
  const plainMax = (key: 'title' | 'submit' | 'close', required: boolean) => {
    const v = view[key];
    if (v === undefined) {
      if (required) err(`/view/${key}`, 'missing required field');
      return;
    }
    if (!isObject(v) || v.type !== 'plain_text' || typeof v.text !== 'string' || !v.text) err(`/view/${key}`, 'must be a plain_text object');
    else if (v.text.length > 24) err(`/view/${key}/text`, 'must be less than 25 characters');
  };
  if (expected === 'modal') {
    plainMax('title', true);
    plainMax('close', false);
    const hasInput = Array.isArray(view.blocks) && view.blocks.some((b) => isObject(b) && b.type === 'input');
    plainMax('submit', hasInput);
  }
  if (view.blocks === undefined) err('/view/blocks', 'missing required field');
  else problems.push(...blockKitProblems(view.blocks, expected, '/view/blocks'));
  return problems;
}

const TS_BASE_SECONDS = 1700000000;

export class FakeSlack {
  readonly calls: FakeSlackCall[] = [];
  /** Where apps.connections.open sends Socket Mode clients. */
  socketModeUrl: string | null = null;
  /** The app-level token (xapp-…) apps.connections.open accepts. */
  appToken: string | null = null;
  /** Seed for users.info / users.lookupByEmail, keyed by user id. */
  readonly users = new Map<string, FakeSlackUser>();
  /** Seed for usergroups.users.list: group id (S…) → member user ids. */
  readonly usergroups = new Map<string, string[]>();
  /** Messages posted with chat.postMessage, keyed `${channel}:${ts}`; chat.update edits them. */
  readonly messages = new Map<string, FakeSlackMessage>();
  /** Bodies Bolt's `respond()` posted to URLs made by `responseUrl()`. */
  readonly responses: FakeSlackResponseUrlPost[] = [];
  /**
   * Scopes the bot token was granted (the app manifest's), reported as Slack does in the
   * `x-oauth-scopes` header of every answer to that token. Methods that need a scope the token
   * lacks answer `missing_scope`, and users.info leaves out the email without `users:read.email`.
   */
  scopes: string[] = ['chat:write', 'commands', 'users:read', 'users:read.email', 'usergroups:read'];

  private readonly failures = new Map<string, FakeSlackFailure[]>();
  private tsCounter = 0;
  private viewCounter = 0;
  private responseCounter = 0;
  private readonly teamId: string;
  private readonly botUserId: string;
  private readonly botId: string;

  private constructor(
    private readonly server: Server,
    private readonly token: string,
    readonly origin: string,
    opts: FakeSlackOptions,
  ) {
    this.teamId = opts.teamId ?? 'T0FAKE001';
    this.botUserId = opts.botUserId ?? 'U0FAKEBOT';
    this.botId = opts.botId ?? 'B0FAKEBOT';
  }

  /** Starts listening on 127.0.0.1 on a free port. */
  static async start(opts: FakeSlackOptions): Promise<FakeSlack> {
    if (!opts.token) throw new Error('FakeSlack needs the bot token it should accept');
    // The instance needs the port, so it is made after listening; no request can arrive before start() returns its URL.
    const holder: { fake?: FakeSlack } = {};
    const server = createServer((req, res) => {
      void holder.fake!.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: false, error: 'fatal_error', detail: String(e) }));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    holder.fake = new FakeSlack(server, opts.token, `http://127.0.0.1:${port}`, opts);
    return holder.fake;
  }

  /** Base URL for `slackApiUrl`; ends with `/api/` like `https://slack.com/api/`. */
  get url(): string {
    return `${this.origin}/api/`;
  }

  /** Calls of one method, refused ones included (filter on `ok`). */
  callsOf(method: string): FakeSlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** The next `times` calls of `method` fail this way (429 + Retry-After, 5xx, or an API error). */
  failNext(method: string, failure: FakeSlackFailure, times = 1): void {
    const queue = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i += 1) queue.push(failure);
    this.failures.set(method, queue);
  }

  /** A `response_url` served by this fake, as Slack puts in slash commands and block_actions. */
  responseUrl(): string {
    this.responseCounter += 1;
    return `${this.origin}/response/${this.responseCounter}`;
  }

  message(channel: string, ts: string): FakeSlackMessage | undefined {
    return this.messages.get(`${channel}:${ts}`);
  }

  /** Forgets calls, messages, responses and pending failures; keeps seeded users and groups. */
  reset(): void {
    this.calls.length = 0;
    this.responses.length = 0;
    this.messages.clear();
    this.failures.clear();
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      // fetch keeps connections alive; without this close() waits for their idle timeout.
      this.server.closeAllConnections();
    });
  }

  // -------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    const raw = await readBody(req);
    const send = (o: Outcome) => {
      res.writeHead(o.status, { 'content-type': 'application/json; charset=utf-8', ...o.headers });
      res.end(JSON.stringify(o.body));
    };

    const responseMatch = /^\/response\/\d+$/.exec(url.pathname);
    if (responseMatch) return send(this.handleResponseUrl(req, url, raw));

    const m = /^\/api\/([a-zA-Z]+(?:\.[a-zA-Z]+)+)$/.exec(url.pathname);
    const method = m?.[1] ?? url.pathname;
    const contentType = String(req.headers['content-type'] ?? '');
    const record = (o: Outcome, token: string, args: Json) => {
      const body = o.body;
      const messages = (body.response_metadata as { messages?: string[] } | undefined)?.messages;
      this.calls.push({
        method,
        args,
        token,
        contentType,
        status: o.status,
        ok: body.ok === true,
        ...(typeof body.error === 'string' ? { error: body.error } : {}),
        ...(messages ? { messages } : {}),
      });
      send(o);
    };

    if (!m || !Object.hasOwn(this.methods, method)) {
      return record({ status: 404, body: { ok: false, error: 'unknown_method', req_method: method } }, '', {});
    }
    if (req.method !== 'POST' && req.method !== 'GET') {
      return record({ status: 405, body: { ok: false, error: 'method_not_supported_for_channel_type' } }, '', {});
    }

    let args: Json;
    try {
      args = parseArgs(contentType, raw, url.searchParams, req.method === 'GET');
    } catch (e) {
      const code = e instanceof ArgError ? e.code : 'invalid_form_data';
      return record({ status: 200, body: { ok: false, error: code } }, '', {});
    }
    const auth = String(req.headers.authorization ?? '');
    const bearer = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    const token = bearer ?? (typeof args.token === 'string' ? args.token : '');
    delete args.token;

    const failure = this.failures.get(method)?.shift();
    if (failure) {
      if ('error' in failure) return record({ status: 200, body: { ok: false, error: failure.error } }, token, args);
      if (failure.status === 429) {
        return record({ status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': String(failure.retryAfter) } }, token, args);
      }
      return record({ status: failure.status, body: { ok: false, error: 'fatal_error' } }, token, args);
    }

    if (!token) return record({ status: 200, body: { ok: false, error: 'not_authed' } }, token, args);
    // apps.connections.open takes the app-level token; every other method the bot token.
    const expected = method === 'apps.connections.open' ? this.appToken : this.token;
    if (token !== expected) return record({ status: 200, body: { ok: false, error: 'invalid_auth' } }, token, args);
    const granted: Record<string, string> = method === 'apps.connections.open' ? {} : { 'x-oauth-scopes': this.scopes.join(',') };
    const needed = METHOD_SCOPES[method];
    if (needed && !this.scopes.includes(needed)) {
      return record(
        {
          status: 200,
          body: { ok: false, error: 'missing_scope', needed, provided: this.scopes.join(',') },
          headers: { ...granted, 'x-accepted-oauth-scopes': needed },
        },
        token,
        args,
      );
    }

    try {
      const handler = this.methods[method]!;
      return record({ status: 200, body: { ok: true, ...handler(args) }, headers: granted }, token, args);
    } catch (e) {
      if (!(e instanceof ArgError)) throw e;
      const body: Json = { ok: false, error: e.code };
      if (e.messages.length) body.response_metadata = { messages: e.messages };
      return record({ status: 200, body }, token, args);
    }
  }

  private handleResponseUrl(req: IncomingMessage, url: URL, raw: string): Outcome {
    if (req.method !== 'POST') return { status: 405, body: { ok: false, error: 'method_not_allowed' } };
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return { status: 400, body: { ok: false, error: 'invalid_json' } };
    }
    if (!isObject(body)) return { status: 400, body: { ok: false, error: 'json_not_object' } };
    if (body.text === undefined && body.blocks === undefined && body.delete_original !== true) {
      return { status: 400, body: { ok: false, error: 'no_text' } };
    }
    if (body.response_type !== undefined && body.response_type !== 'ephemeral' && body.response_type !== 'in_channel') {
      return { status: 400, body: { ok: false, error: 'invalid_response_type' } };
    }
    if (body.blocks !== undefined && blockKitProblems(body.blocks, 'message').length) return { status: 400, body: { ok: false, error: 'invalid_blocks' } };
    this.responses.push({ url: url.href, body });
    return { status: 200, body: { ok: true } };
  }

  private nextTs(): string {
    this.tsCounter += 1;
    const micros = this.tsCounter * 100;
    const seconds = TS_BASE_SECONDS + Math.floor(micros / 1_000_000);
    return `${seconds}.${String(micros % 1_000_000).padStart(6, '0')}`;
  }

  private userPayload(u: FakeSlackUser): Json {
    const real = u.real_name ?? u.name;
    return {
      id: u.id,
      team_id: this.teamId,
      name: u.name,
      real_name: real,
      deleted: u.deleted ?? false,
      is_bot: u.is_bot ?? false,
      is_app_user: false,
      tz: 'Europe/Berlin',
      // Slack leaves the email out of the profile unless the token has users:read.email.
      profile: {
        ...(this.scopes.includes('users:read.email') ? { email: u.email } : {}),
        real_name: real,
        display_name: u.name,
        real_name_normalized: real,
        display_name_normalized: u.name,
      },
    };
  }

  private viewPayload(view: Json): Json {
    this.viewCounter += 1;
    const id = `V${String(this.viewCounter).padStart(8, '0')}`;
    return {
      id,
      team_id: this.teamId,
      app_id: 'A0FAKEAPP',
      bot_id: this.botId,
      close: null,
      submit: null,
      private_metadata: '',
      callback_id: '',
      external_id: '',
      ...view,
      state: { values: {} },
      hash: `${TS_BASE_SECONDS}.${id}`,
      root_view_id: id,
      previous_view_id: null,
    };
  }

  private messageContent(method: string, args: Json, surface: 'message'): { text: string; blocks: unknown[] } {
    const hasText = typeof args.text === 'string' && args.text.length > 0;
    const hasBlocks = args.blocks !== undefined;
    const hasAttachments = args.attachments !== undefined;
    if (!hasText && !hasBlocks && !hasAttachments) throw new ArgError('no_text', [`[ERROR] ${method} needs text, blocks or attachments`]);
    if (args.text !== undefined && typeof args.text !== 'string') throw invalid('/text', 'must be a string');
    if (typeof args.text === 'string' && args.text.length > 40000) throw new ArgError('msg_too_long', []);
    if (hasBlocks) {
      const problems = blockKitProblems(args.blocks, surface);
      if (problems.length) throw new ArgError('invalid_blocks', problems);
    }
    return { text: (args.text as string | undefined) ?? '', blocks: (args.blocks as unknown[] | undefined) ?? [] };
  }

  /** One handler per supported method; each validates like Slack and returns the success body. */
  private readonly methods: Record<string, (args: Json) => Json> = {
    // Socket Mode: hands out the WebSocket URL set in `socketModeUrl` (the app-level token is checked in handle()).
    'apps.connections.open': (): Json => ({ url: this.socketModeUrl ?? 'ws://127.0.0.1:9/none' }),
    'auth.test': (): Json => ({
      url: 'https://fake-workspace.slack.com/',
      team: 'Fake Workspace',
      user: 'lifecycle-desk',
      team_id: this.teamId,
      user_id: this.botUserId,
      bot_id: this.botId,
      is_enterprise_install: false,
    }),

    'chat.postMessage': (args: Json): Json => {
      requireString(args, 'channel');
      optionalString(args, 'thread_ts');
      const content = this.messageContent('chat.postMessage', args, 'message');
      const ts = this.nextTs();
      const channel = args.channel as string;
      const thread_ts = args.thread_ts as string | undefined;
      this.messages.set(`${channel}:${ts}`, { channel, ts, ...content, ...(thread_ts ? { thread_ts } : {}), updates: [] });
      return {
        channel,
        ts,
        message: {
          type: 'message',
          subtype: 'bot_message',
          text: content.text,
          blocks: content.blocks,
          user: this.botUserId,
          bot_id: this.botId,
          team: this.teamId,
          ts,
        },
      };
    },

    'chat.update': (args: Json): Json => {
      requireString(args, 'channel');
      requireString(args, 'ts');
      const content = this.messageContent('chat.update', args, 'message');
      const stored = this.messages.get(`${args.channel as string}:${args.ts as string}`);
      if (!stored) throw new ArgError('message_not_found', []);
      stored.text = content.text;
      stored.blocks = content.blocks;
      stored.updates.push(content);
      return {
        channel: stored.channel,
        ts: stored.ts,
        text: content.text,
        message: { type: 'message', text: content.text, blocks: content.blocks, user: this.botUserId, bot_id: this.botId, team: this.teamId },
      };
    },

    'chat.postEphemeral': (args: Json): Json => {
      requireString(args, 'channel');
      requireString(args, 'user');
      requireUserId(args, 'user');
      this.messageContent('chat.postEphemeral', args, 'message');
      return { message_ts: this.nextTs() };
    },

    'chat.getPermalink': (args: Json): Json => {
      requireString(args, 'channel');
      requireString(args, 'message_ts');
      const stored = this.messages.get(`${args.channel as string}:${args.message_ts as string}`);
      if (!stored) throw new ArgError('message_not_found', []);
      return { channel: stored.channel, permalink: `https://fake-workspace.slack.com/archives/${stored.channel}/p${stored.ts.replace('.', '')}` };
    },

    'views.open': (args: Json): Json => {
      requireString(args, 'trigger_id');
      if (args.view === undefined) throw invalid('/view', 'missing required field: view');
      const problems = viewProblems(args.view, 'modal');
      if (problems.length) throw new ArgError('invalid_arguments', problems);
      return { view: this.viewPayload(args.view as Json) };
    },

    'views.publish': (args: Json): Json => {
      requireString(args, 'user_id');
      requireUserId(args, 'user_id');
      optionalString(args, 'hash');
      if (args.view === undefined) throw invalid('/view', 'missing required field: view');
      const problems = viewProblems(args.view, 'home');
      if (problems.length) throw new ArgError('invalid_arguments', problems);
      return { view: this.viewPayload(args.view as Json) };
    },

    'users.info': (args: Json): Json => {
      requireString(args, 'user');
      requireUserId(args, 'user');
      const user = this.users.get(args.user as string);
      if (!user) throw new ArgError('user_not_found', []);
      return { user: this.userPayload(user) };
    },

    'users.lookupByEmail': (args: Json): Json => {
      requireString(args, 'email');
      const email = (args.email as string).trim().toLowerCase();
      const user = [...this.users.values()].find((u) => u.email.toLowerCase() === email && !u.deleted);
      if (!user) throw new ArgError('users_not_found', []);
      return { user: this.userPayload(user) };
    },

    'usergroups.users.list': (args: Json): Json => {
      requireString(args, 'usergroup');
      const members = this.usergroups.get(args.usergroup as string);
      if (!members) throw new ArgError('no_such_subteam', []);
      return { users: [...members] };
    },
  };
}

/** The bot scope each method needs (Slack's method reference); methods not listed need none. */
const METHOD_SCOPES: Record<string, string> = {
  'chat.postMessage': 'chat:write',
  'chat.update': 'chat:write',
  'chat.postEphemeral': 'chat:write',
  'users.info': 'users:read',
  'users.lookupByEmail': 'users:read.email',
  'usergroups.users.list': 'usergroups:read',
};

const invalid = (pointer: string, message: string) => new ArgError('invalid_arguments', [`[ERROR] ${message} [json-pointer:${pointer}]`]);

function requireString(args: Json, key: string): void {
  const v = args[key];
  if (v === undefined || v === '') throw invalid(`/${key}`, `missing required field: ${key}`);
  if (typeof v !== 'string') throw invalid(`/${key}`, 'must be a string');
}

/** Slack user ids are U… or W… followed by upper-case letters and digits; an email or a name is refused. */
function requireUserId(args: Json, key: string): void {
  if (!/^[UW][A-Z0-9]+$/.test(args[key] as string)) throw new ArgError('user_not_found', [`[ERROR] ${key} is not a Slack user id [json-pointer:/${key}]`]);
}

function optionalString(args: Json, key: string): void {
  if (args[key] !== undefined && typeof args[key] !== 'string') throw invalid(`/${key}`, 'must be a string');
}

/** Arguments Slack takes as JSON: a JSON string when form-encoded, a value when the body is JSON. */
const JSON_ARGS = new Set(['blocks', 'attachments', 'view', 'metadata']);

function parseArgs(contentType: string, raw: string, query: URLSearchParams, isGet: boolean): Json {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  const args: Json = {};
  for (const [k, v] of query) args[k] = v;
  if (isGet || raw.length === 0) return decodeJsonArgs(args);
  if (type === 'application/x-www-form-urlencoded') {
    for (const [k, v] of new URLSearchParams(raw)) args[k] = v;
    return decodeJsonArgs(args);
  }
  if (type === 'application/json') {
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw new ArgError('invalid_json', []);
    }
    if (!isObject(body)) throw new ArgError('json_not_object', []);
    return decodeJsonArgs({ ...args, ...body });
  }
  throw new ArgError('invalid_form_data', []);
}

function decodeJsonArgs(args: Json): Json {
  for (const key of JSON_ARGS) {
    const v = args[key];
    if (typeof v !== 'string') continue;
    try {
      args[key] = JSON.parse(v);
    } catch {
      throw new ArgError(key === 'blocks' ? 'invalid_blocks_format' : 'invalid_arguments', [`[ERROR] ${key} is not valid JSON [json-pointer:/${key}]`]);
    }
  }
  return args;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// Inbound requests as Slack sends them (for posting to the app's /slack/events)
// ---------------------------------------------------------------------------------------------

export interface SignedSlackRequest {
  readonly body: string;
  readonly headers: Record<string, string>;
}

export interface SignOptions {
  readonly signingSecret: string;
  /** Unix seconds; defaults to now. */
  readonly timestamp?: number;
}

function signed(body: string, contentType: string, opts: SignOptions): SignedSlackRequest {
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  // Exactly this content type: Bolt compares it verbatim before parsing the form.
  return { body, headers: { 'content-type': contentType, ...slackSignatureHeaders(opts.signingSecret, timestamp, body) } };
}

/** An interactivity request (block_actions, view_submission…): form-encoded with a `payload` JSON field. */
export function slackInteractionRequest(payload: Record<string, unknown>, opts: SignOptions): SignedSlackRequest {
  return signed(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), 'application/x-www-form-urlencoded', opts);
}

/** A slash command request: form-encoded fields (command, text, user_id, response_url, trigger_id…). */
export function slackSlashCommandRequest(fields: Record<string, string>, opts: SignOptions): SignedSlackRequest {
  return signed(new URLSearchParams(fields).toString(), 'application/x-www-form-urlencoded', opts);
}

/** An Events API request (event_callback, url_verification): a JSON body. */
export function slackEventRequest(body: Record<string, unknown>, opts: SignOptions): SignedSlackRequest {
  return signed(JSON.stringify(body), 'application/json', opts);
}
