import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { signZafToken } from '../helpers/zaf-token';

/**
 * Zendesk's side of a ZAF v2 app, for tests in a real browser:
 *
 * - the app's assets, served from their own origin as Zendesk serves them;
 * - the host page (the agent's Zendesk tab, another origin) that loads the app's iframe with
 *   `?origin=…&app_guid=…` and speaks the SDK's postMessage protocol: the handshake answered with
 *   `zaf.app.registered` (installation settings without the secure ones, and the context),
 *   `get`/`set`/`invoke` requests answered by id, `request:N` answered with `zaf.request:N.done`
 *   or `.fail`, and framework events (`zaf.<event>`);
 * - the request proxy: it fills in `{{setting.…}}` (secure settings only for secure requests to
 *   a domain of the manifest's domainWhitelist, and a setting scoped to `jwt_secret_key` nowhere
 *   but there) and `{{current_user.…}}` from the signed-in user, signs the `jwt` option's claims
 *   (with `iat`, and `exp` from `expiry`) with HS256 and the secret key, puts the token where the
 *   request says `{{jwt.token}}`, and forwards the request.
 */

export interface HostUser {
  readonly id: number;
  readonly name: string;
  readonly email: string;
  readonly role: string;
}

export interface HostTicket {
  id: number | null;
  subject: string;
  requester: { email: string; name: string } | null;
  /** Custom field values by field id. */
  fields: Record<string, unknown>;
}

export interface HostOptions {
  /** The packaged app (manifest.json, assets/, translations/). */
  readonly appDir: string;
  /** Installation settings, secure ones included (they stay on this "server"). */
  readonly settings: Record<string, unknown>;
  readonly subdomain: string;
}

export interface ProxyCall {
  readonly url: string;
  readonly status: number;
  readonly authorization: string | undefined;
}

export class ZafHost {
  readonly users = new Map<number, HostUser>();
  readonly tickets = new Map<string, HostTicket>();
  readonly proxyCalls: ProxyCall[] = [];
  private readonly manifest: { domainWhitelist?: string[]; parameters?: { name: string; secure?: boolean; scopes?: string[] }[] };

  private constructor(
    private readonly opts: HostOptions,
    private readonly assets: Server,
    private readonly host: Server,
  ) {
    this.manifest = JSON.parse(fs.readFileSync(path.join(opts.appDir, 'manifest.json'), 'utf8'));
  }

  static async start(opts: HostOptions): Promise<ZafHost> {
    let self: ZafHost | null = null;
    const assets = createServer((req, res) => self!.serveAsset(req, res));
    const host = createServer((req, res) => void self!.serveHost(req, res));
    await Promise.all([listen(assets, '127.0.0.1'), listen(host, '127.0.0.2')]);
    self = new ZafHost(opts, assets, host);
    return self;
  }

  /** The app's origin (127.0.0.1) and the Zendesk tab's (127.0.0.2) differ, as in Zendesk. */
  get assetsOrigin(): string {
    return `http://127.0.0.1:${(this.assets.address() as AddressInfo).port}`;
  }
  get hostOrigin(): string {
    return `http://127.0.0.2:${(this.host.address() as AddressInfo).port}`;
  }

  /** The agent tab: a ticket (or a new ticket) with the app in its sidebar, as `userId`. */
  pageUrl(o: { ticket: string; user: number; location?: 'ticket_sidebar' | 'new_ticket_sidebar' }): string {
    const q = new URLSearchParams({ ticket: o.ticket, user: String(o.user), location: o.location ?? 'ticket_sidebar' });
    return `${this.hostOrigin}/agent?${q}`;
  }

  /** Calls the proxy as the host page does (a hand-made request from an agent's browser). */
  async proxy(userId: number, options: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.hostOrigin}/proxy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-host-user': String(userId) },
      body: JSON.stringify(options),
    });
    return (await res.json()) as { status: number; body: unknown };
  }

  async close(): Promise<void> {
    await Promise.all([this.assets, this.host].map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))));
  }

  private serveAsset(req: IncomingMessage, res: ServerResponse): void {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
    const file = path.resolve(this.opts.appDir, rel);
    if (!file.startsWith(path.resolve(this.opts.appDir) + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    const type =
      { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.json': 'application/json' }[
        path.extname(file)
      ] ?? 'application/octet-stream';
    res.writeHead(200, { 'content-type': type }).end(fs.readFileSync(file));
  }

  private async serveHost(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.hostOrigin);
    if (url.pathname === '/agent') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(this.hostPage(url.searchParams));
      return;
    }
    if (url.pathname === '/ticket' && req.method === 'GET') {
      const t = this.tickets.get(url.searchParams.get('id') ?? '');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(t ?? null));
      return;
    }
    if (url.pathname === '/ticket' && req.method === 'POST') {
      const { id, field, value } = JSON.parse(await body(req)) as { id: string; field: string; value: unknown };
      const t = this.tickets.get(id);
      if (t) t.fields[field] = value;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    if (url.pathname === '/proxy' && req.method === 'POST') {
      const user = this.users.get(Number(req.headers['x-host-user']));
      const out = user ? await this.forward(user, JSON.parse(await body(req)) as Record<string, unknown>) : { status: 401, body: { error: 'not signed in' } };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
      return;
    }
    res.writeHead(404).end('not found');
  }

  /** The proxy: placeholders, JWT, whitelist; then the request itself. */
  private async forward(user: HostUser, o: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
    const secureNames = new Set((this.manifest.parameters ?? []).filter((p) => p.secure).map((p) => p.name));
    const jwtOnly = new Set((this.manifest.parameters ?? []).filter((p) => p.scopes?.length === 1 && p.scopes[0] === 'jwt_secret_key').map((p) => p.name));
    const target = new URL(String(o.url).replace(/\{\{setting\.(\w+)\}\}/g, (_m, k: string) => String(this.opts.settings[k] ?? '')));
    const secure = o.secure === true;
    if (secure && !(this.manifest.domainWhitelist ?? []).includes(target.hostname)) {
      return { status: 403, body: { error: `secure requests may only go to the domainWhitelist, not ${target.hostname}` } };
    }
    const fill = (s: string, where: 'jwt_secret_key' | 'other'): string =>
      s
        .replace(/\{\{setting\.(\w+)\}\}/g, (_m, k: string) => {
          if (secureNames.has(k) && !secure) return '';
          if (jwtOnly.has(k) && where !== 'jwt_secret_key') throw new Error(`setting ${k} is scoped to jwt_secret_key`);
          return String(this.opts.settings[k] ?? '');
        })
        .replace(/\{\{current_user\.(\w+)\}\}/g, (_m, k: string) => String((user as unknown as Record<string, unknown>)[k] ?? ''));
    let token = '';
    try {
      const jwt = o.jwt as { algorithm?: string; secret_key?: string; expiry?: number; claims?: Record<string, unknown> } | undefined;
      if (jwt) {
        if (jwt.algorithm !== 'HS256') return { status: 400, body: { error: 'unsupported algorithm' } };
        const iat = Math.floor(Date.now() / 1000);
        const claims = Object.fromEntries(Object.entries(jwt.claims ?? {}).map(([k, v]) => [k, typeof v === 'string' ? fill(v, 'other') : v]));
        token = signZafToken({ ...claims, iat, exp: iat + Number(jwt.expiry ?? 3600) }, fill(String(jwt.secret_key ?? ''), 'jwt_secret_key'));
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries((o.headers as Record<string, string>) ?? {})) headers[k] = fill(String(v), 'other').replace('{{jwt.token}}', token);
      if (o.contentType) headers['content-type'] = String(o.contentType);
      const res = await fetch(target, { method: String(o.type ?? 'GET'), headers, ...(o.data !== undefined ? { body: fill(String(o.data), 'other') } : {}) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
      this.proxyCalls.push({ url: target.toString(), status: res.status, authorization: headers.Authorization });
      return { status: res.status, body: parsed };
    } catch (err) {
      this.proxyCalls.push({ url: target.toString(), status: 0, authorization: undefined });
      return { status: 0, body: { error: (err as Error).message } };
    }
  }

  /** The agent tab. Everything the app asks for comes from here or from the proxy. */
  private hostPage(q: URLSearchParams): string {
    const ticketKey = q.get('ticket') ?? '';
    const user = this.users.get(Number(q.get('user')));
    // A ticket the test did not describe is an existing ticket with empty request fields.
    const ticket = this.tickets.get(ticketKey) ?? (/^\d+$/.test(ticketKey) ? { id: Number(ticketKey), subject: '', requester: null, fields: {} } : null);
    const publicSettings = Object.fromEntries(
      Object.entries(this.opts.settings).filter(([k]) => !(this.manifest.parameters ?? []).some((p) => p.name === k && p.secure)),
    );
    const boot = {
      appOrigin: this.assetsOrigin,
      ticketKey,
      location: q.get('location') ?? 'ticket_sidebar',
      user,
      ticket,
      settings: publicSettings,
      subdomain: this.opts.subdomain,
    };
    return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Zendesk (stand-in)</title>
<style>body{margin:0;font-family:sans-serif;background:#f8f9f9} #sidebar{position:absolute;top:0;right:0;width:320px;border-left:1px solid #d8dcde;background:#fff} iframe{width:320px;border:0;display:block}</style></head>
<body><div id="sidebar"><iframe id="app" title="Lifecycle Desk"></iframe></div>
<script>
const BOOT = ${JSON.stringify(boot).replace(/</g, '\\u003c')};
const frame = document.getElementById('app');
const guid = 'app-guid-1';
const host = window.zafHost = { resizes: [], events: [], ticket: BOOT.ticket };
frame.src = BOOT.appOrigin + '/assets/iframe.html?origin=' + encodeURIComponent(location.origin) + '&app_guid=' + guid;
const send = (msg) => frame.contentWindow.postMessage(JSON.stringify(msg), BOOT.appOrigin);
host.fire = (name, message) => send({ key: 'zaf.' + name, message });
function getPath(p) {
  const t = host.ticket;
  const m = /^ticket\\.customField:custom_field_(\\d+)$/.exec(p);
  if (m) return t ? (t.fields[m[1]] ?? null) : null;
  if (p === 'ticket.id') return t && t.id;
  if (p === 'ticket.subject') return t ? t.subject : '';
  if (p === 'ticket.requester') return t ? t.requester : null;
  if (p === 'currentUser') return BOOT.user;
  return undefined;
}
window.addEventListener('message', async (e) => {
  if (e.origin !== BOOT.appOrigin || e.source !== frame.contentWindow) return;
  const data = typeof e.data === 'string' ? JSON.parse(e.data) : e.data;
  if (data.key === 'iframe.handshake') {
    send({ key: 'zaf.app.registered', message: {
      metadata: { appId: 1, installationId: 1, name: 'Lifecycle Desk', settings: BOOT.settings },
      context: { product: 'support', location: BOOT.location, ticketId: BOOT.location === 'ticket_sidebar' && BOOT.ticket ? BOOT.ticket.id : undefined, account: { subdomain: BOOT.subdomain }, instanceGuid: guid } } });
    return;
  }
  if (data.request === 'get') {
    const result = { errors: {} };
    for (const p of data.params) result[p] = getPath(p);
    send({ id: data.id, result });
    return;
  }
  if (data.request === 'set') {
    for (const [k, v] of Object.entries(data.params)) {
      const m = /^ticket\\.customField:custom_field_(\\d+)$/.exec(k);
      if (m && host.ticket) host.ticket.fields[m[1]] = v;
    }
    send({ id: data.id, result: data.params });
    return;
  }
  if (data.request === 'invoke') {
    const resize = data.params.resize;
    if (resize) { const size = resize[0]; host.resizes.push(size); if (size.height) frame.style.height = size.height; }
    send({ id: data.id, result: {} });
    return;
  }
  if (typeof data.key === 'string' && data.key.startsWith('request:')) {
    const key = data.key;
    const res = await fetch('/proxy', { method: 'POST', headers: { 'content-type': 'application/json', 'x-host-user': String(BOOT.user.id) }, body: JSON.stringify(data.message) });
    const out = await res.json();
    const ok = out.status >= 200 && out.status < 300;
    const text = typeof out.body === 'string' ? out.body : JSON.stringify(out.body);
    const xhr = { status: out.status, responseText: text, responseJSON: typeof out.body === 'string' ? undefined : out.body };
    send(ok ? { key: 'zaf.' + key + '.done', message: { responseArgs: [out.body, 'success', xhr] } } : { key: 'zaf.' + key + '.fail', message: { responseArgs: [xhr, 'error', String(out.status)] } });
    return;
  }
  if (typeof data.key === 'string' && data.key.startsWith('iframe.')) host.events.push(data.key);
});
</script></body></html>`;
  }
}

const listen = (s: Server, address: string) => new Promise<void>((r) => s.listen(0, address, () => r()));
const body = async (req: IncomingMessage) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

/** Debian's Chromium, driven by playwright-core: no browser download. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
