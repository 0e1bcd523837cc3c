import { parse as parseQuery } from 'node:querystring';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../observability/logger';
import { findUnstorableText } from '../../http/input-guards';
import { SLACK_SIGNATURE_HEADER, SLACK_TIMESTAMP_HEADER, verifySlackSignature } from './signature';

/**
 * The gate in front of Bolt's HTTP receiver on POST /slack/events. Bolt reads up to 4 MB and
 * hashes it before it looks at the signature, accepts timestamps from the future, and a signed
 * body it cannot handle (`payload=null`, a JSON `null`) throws where nothing catches it, which
 * ends the process. So, before Bolt sees a request:
 *
 * 1. the body is capped at what Slack sends (interaction payloads stay well under 64 KB) and read
 *    for at most a few seconds; anything larger is refused with 413 without reading the rest;
 * 2. the signature is checked on the raw bytes, with the timestamp within five minutes either way;
 * 3. the body must be what Bolt can dispatch: an object, with the fields its listeners read
 *    (an interaction's `user.id`, a command's `user_id`, an event's `event.type`), and no text
 *    the database cannot store.
 *
 * Only then does Bolt get the request, with the bytes already read (Bolt reuses `req.rawBody`).
 */

/** Slack's own limits keep real requests far below this; it bounds the work a forged request can cause. */
export const SLACK_MAX_BODY_BYTES = 64 * 1024;
const READ_TIMEOUT_MS = 10_000;
const FORM = 'application/x-www-form-urlencoded';

/** Interaction payload types Bolt dispatches with a user (the listeners read `body.user.id`). */
const INTERACTIONS_WITH_USER = new Set([
  'block_actions',
  'block_suggestion',
  'view_submission',
  'view_closed',
  'shortcut',
  'message_action',
  'interactive_message',
  'dialog_submission',
  'dialog_cancellation',
  'workflow_step_edit',
]);

export interface SlackGateOptions {
  readonly signingSecret: string;
  /** Current Unix time in seconds (injected so tests can move the clock). */
  readonly nowSeconds?: () => number;
  readonly maxBodyBytes?: number;
  readonly logger: Logger;
  /** Bolt's request listener. */
  readonly next: (req: IncomingMessage, res: ServerResponse) => void;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

function reply(res: ServerResponse, status: number, code: string, message: string, close = false): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...(close ? { connection: 'close' } : {}) });
  res.end(JSON.stringify({ error: { code, message } }));
}

/** Reads the body, refusing (413) as soon as it passes `max` bytes and (408) if it takes too long. */
function readCapped(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: Error | null, body?: Buffer) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (err) reject(err);
      else resolve(body!);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.pause();
        done(new Refusal(413, 'payload_too_large', `The body is larger than ${max} bytes; Slack never sends that much`));
      } else chunks.push(c);
    };
    const onEnd = () => done(null, Buffer.concat(chunks, size));
    const onError = (err: Error) => done(err);
    const timer = setTimeout(() => {
      req.pause();
      done(new Refusal(408, 'request_timeout', `The body did not arrive within ${READ_TIMEOUT_MS / 1000} s`));
    }, READ_TIMEOUT_MS);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** What Bolt will parse the body into (the same rules: form with an optional `payload` JSON field, else JSON). */
export function parseSlackBody(raw: Buffer, contentType: string | undefined): unknown {
  const text = raw.toString('utf8');
  if (contentType === FORM) {
    const form = parseQuery(text);
    if (form.payload === undefined) return form;
    if (typeof form.payload !== 'string') throw new Refusal(400, 'unsupported_payload', 'The form has more than one "payload" field');
    try {
      return JSON.parse(form.payload);
    } catch {
      throw new Refusal(400, 'unsupported_payload', 'The "payload" field is not valid JSON');
    }
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Refusal(
      400,
      'unsupported_payload',
      `The body is not valid JSON (content type ${JSON.stringify(contentType ?? '')}; interactions and commands are ${FORM})`,
    );
  }
}

/** Why Bolt's listeners could not handle `body`, or null when they can. */
export function slackBodyProblem(body: unknown): string | null {
  if (!isObject(body)) return `expected a JSON object, got ${body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body}`;
  const type = body.type;
  // Bolt reads `<field>.id` of these whenever they are present (to route the request and to find the
  // conversation); a null or a string there would throw inside Bolt instead of being refused here.
  for (const f of ['channel', 'team', 'user', 'enterprise', 'view', 'message', 'container', 'event'] as const) {
    if (f in body && body[f] !== undefined && !isObject(body[f])) return `${f} must be an object when present`;
  }
  if (typeof type === 'string' && INTERACTIONS_WITH_USER.has(type)) {
    if (!isObject(body.user) || typeof body.user.id !== 'string' || body.user.id === '') return `a ${type} payload needs user.id (who clicked)`;
    if (type === 'block_actions' && !Array.isArray(body.actions)) return 'a block_actions payload needs an actions list';
    if ((type === 'view_submission' || type === 'view_closed') && !isObject(body.view)) return `a ${type} payload needs a view`;
  } else if (type === 'event_callback') {
    if (!isObject(body.event) || typeof body.event.type !== 'string') return 'an event_callback needs an event with a type';
  } else if (type === 'app_rate_limited') {
    return null;
  } else if (type === 'url_verification') {
    if (typeof body.challenge !== 'string') return 'a url_verification needs a challenge';
  } else if (typeof body.command === 'string') {
    for (const f of ['user_id', 'channel_id', 'text'] as const) if (typeof body[f] !== 'string') return `a slash command needs ${f}`;
  } else {
    return `unsupported Slack request (type ${JSON.stringify(type ?? null)})`;
  }
  const unstorable = findUnstorableText(body);
  return unstorable ? `${unstorable.field || 'a value'} ${unstorable.message}` : null;
}

export function slackGate(o: SlackGateOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const max = o.maxBodyBytes ?? SLACK_MAX_BODY_BYTES;
  const now = o.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST') throw new Refusal(405, 'method_not_allowed', 'Slack requests are POSTs');
    const declared = Number(header(req, 'content-length'));
    if (Number.isFinite(declared) && declared > max)
      throw new Refusal(413, 'payload_too_large', `The body is larger than ${max} bytes; Slack never sends that much`);
    const raw = await readCapped(req, max);
    const contentType = header(req, 'content-type');
    // Slack's SSL check carries no signature; Bolt answers it and drops everything else in the body.
    const sslCheck = contentType === FORM && parseQuery(raw.toString('utf8')).ssl_check === '1';
    if (!sslCheck) {
      const sig = verifySlackSignature({
        secret: o.signingSecret,
        signature: header(req, SLACK_SIGNATURE_HEADER),
        timestamp: header(req, SLACK_TIMESTAMP_HEADER),
        rawBody: raw,
        nowSeconds: now(),
      });
      if (!sig.ok) throw new Refusal(401, 'bad_signature', `Slack signature refused: ${sig.reason}`);
      const problem = slackBodyProblem(parseSlackBody(raw, contentType));
      if (problem) throw new Refusal(400, 'unsupported_payload', `Slack request refused: ${problem}`);
    }
    (req as IncomingMessage & { rawBody?: Buffer }).rawBody = raw;
    o.next(req, res);
  };
  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof Refusal) {
        o.logger.info({ status: err.status, code: err.code }, 'slack request refused');
        // A body left unread (too large, too slow) is not drained: the connection is closed instead.
        reply(res, err.status, err.code, err.message, err.status === 413 || err.status === 408);
        if (err.status === 413 || err.status === 408) res.once('finish', () => req.destroy());
        return;
      }
      o.logger.error({ err: { message: (err as Error).message } }, 'slack request failed');
      reply(res, 500, 'internal', 'Internal error; it has been logged');
    });
  };
}
