import type { FastifyInstance, FastifyReply } from 'fastify';
import { cancelCustomerChange, isGone, viewCustomerChange } from '../app/customer-links';
import type { CustomerChangeView, CustomerLinkDeps } from '../app/customer-links';
import { AppError } from '../records/errors';
import { kindLabel } from '../integrations/email/templates';
import { statusFor } from './errors';

/**
 * The customer's page for a scheduled change (the signed link in its email): plain server-rendered
 * HTML, no script. `GET /customer/changes/:token` shows the change and, when allowed, a form that
 * POSTs the same token to `/customer/changes/cancel`. The token in the form is what makes the POST
 * safe from cross-site forgery: another site cannot know it. 403 for a token that is not ours,
 * 410 once the change's instant has passed.
 */

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const DAY = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric',
  month: 'long',
  year: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  timeZone: 'UTC',
  timeZoneName: 'short',
});

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1f2933;line-height:1.5}h1{font-size:1.4rem}dt{font-weight:600}dd{margin:0 0 .75rem 0}button{font:inherit;padding:.5rem 1rem;border:1px solid #9b1c1c;background:#fff;color:#9b1c1c;border-radius:4px;cursor:pointer}.note{color:#52606d}</style>
</head><body>
<h1>${esc(title)}</h1>
${body}
</body></html>
`;
}

const STATUS_WORDS: Record<string, string> = {
  scheduled: 'Scheduled',
  cancelled: 'Cancelled',
  applying: 'Being applied',
  applied: 'Done',
  confirmed: 'Done',
  closed: 'Done',
};

function changePage(v: CustomerChangeView, justCancelled = false): string {
  const r = v.record;
  const when = r.effective_at ? DAY.format(new Date(r.effective_at)) : 'at the end of your term';
  const status = STATUS_WORDS[r.state] ?? 'In progress';
  const rows = [
    ['Account', v.accountName],
    ['Change', kindLabel(r.kind, r.subtype)],
    ['Takes effect', when],
    ['Status', status],
  ]
    .map(([k, val]) => `<dt>${esc(k!)}</dt><dd>${esc(val!)}</dd>`)
    .join('');
  const intro = justCancelled
    ? '<p>Your change has been cancelled. Nothing will change on your account, and we will confirm this by email.</p>'
    : r.state === 'cancelled'
      ? '<p>This change was cancelled. Nothing will change on your account.</p>'
      : '';
  const form = v.canCancel
    ? `<form method="post" action="/customer/changes/cancel"><input type="hidden" name="token" value="${esc(v.token)}"><p>Changed your mind? You can cancel this change until it takes effect.</p><button type="submit">Cancel this change</button></form>`
    : r.state === 'scheduled'
      ? '<p class="note">To change or cancel it, reply to your email or contact support.</p>'
      : '';
  return page(`${kindLabel(r.kind, r.subtype)} for ${v.accountName}`, `${intro}<dl>${rows}</dl>${form}`);
}

function send(reply: FastifyReply, status: number, html: string): FastifyReply {
  return (
    reply
      .status(status)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      // The token is in the URL: it must not leak to other sites through the Referer header.
      .header('referrer-policy', 'no-referrer')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
      .send(html)
  );
}

function failure(reply: FastifyReply, err: unknown): FastifyReply {
  if (isGone(err)) return send(reply, 410, page('This link has expired', `<p>${esc((err as Error).message)}</p>`));
  if (err instanceof AppError && statusFor(err.code) < 500) {
    const status = statusFor(err.code);
    return send(reply, status, page(status === 403 ? 'This link cannot be used' : 'This change cannot be changed here', `<p>${esc(err.message)}</p>`));
  }
  throw err;
}

const TOKEN_MAX = 200;

export function customerRoutes(app: FastifyInstance, deps: CustomerLinkDeps): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });

  app.get<{ Params: { token: string } }>('/customer/changes/:token', async (req, reply) => {
    try {
      const token = req.params.token.slice(0, TOKEN_MAX + 1);
      if (token.length > TOKEN_MAX) throw new AppError('forbidden', 'This link is not valid.');
      return send(reply, 200, changePage(await viewCustomerChange(deps, token)));
    } catch (err) {
      return failure(reply, err);
    }
  });

  app.post<{ Body: unknown }>('/customer/changes/cancel', async (req, reply) => {
    try {
      const token = (req.body as { token?: unknown } | null)?.token;
      if (typeof token !== 'string' || !token || token.length > TOKEN_MAX)
        throw new AppError('forbidden', 'This link is not valid. Use the link in your email exactly as it was sent, or contact support.');
      return send(reply, 200, changePage(await cancelCustomerChange(deps, token), true));
    } catch (err) {
      return failure(reply, err);
    }
  });
}
