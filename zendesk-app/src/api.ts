import type { ZafClient } from 'zendesk_app_framework_sdk';

/**
 * Calls to Lifecycle Desk go through Zendesk's app proxy (`client.request` with `secure: true`):
 * the proxy signs a JWT with the app's shared secret (a secure setting the browser never sees)
 * and puts it where the request says `{{jwt.token}}`; it also fills in `{{current_user.…}}` in
 * the claims. The browser holds no secret.
 */

export interface Problem {
  readonly field: string;
  readonly message: string;
  readonly ticket_field?: string | null;
  readonly field_name?: string | null;
}

/** A failed call, in words an agent understands. */
export class ServiceError extends Error {
  constructor(
    readonly kind: 'unreachable' | 'unauthorized' | 'forbidden' | 'conflict' | 'invalid' | 'server',
    readonly status: number,
    message: string,
    readonly problems: readonly Problem[] = [],
  ) {
    super(message);
  }
}

/** Token lifetime asked of the proxy: short, since every call gets a fresh one. */
const TOKEN_EXPIRY_S = 300;

export class Api {
  constructor(
    private readonly client: ZafClient,
    private readonly serviceUrl: string,
    private readonly subdomain: string,
  ) {}

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const options: Record<string, unknown> = {
      url: `${this.serviceUrl.replace(/\/+$/, '')}${path}`,
      type: method,
      dataType: 'json',
      cors: false,
      secure: true,
      timeout: 15_000,
      headers: { Authorization: 'Bearer {{jwt.token}}' },
      jwt: {
        algorithm: 'HS256',
        secret_key: '{{setting.shared_secret}}',
        expiry: TOKEN_EXPIRY_S,
        claims: {
          iss: `https://${this.subdomain}.zendesk.com`,
          aud: 'lifecycle-desk',
          sub: '{{current_user.id}}',
          email: '{{current_user.email}}',
          name: '{{current_user.name}}',
        },
      },
      ...(body === undefined ? {} : { contentType: 'application/json', data: JSON.stringify(body) }),
    };
    try {
      return (await this.client.request(options)) as T;
    } catch (err) {
      throw explain(err);
    }
  }
}

interface FailedResponse {
  status?: number;
  responseJSON?: { error?: { code?: string; message?: string; problems?: Problem[] } };
  responseText?: string;
}

/** What went wrong, said so an agent knows what to do next. */
export function explain(err: unknown): ServiceError {
  if (err instanceof ServiceError) return err;
  const r = (err && typeof err === 'object' ? err : {}) as FailedResponse;
  const status = typeof r.status === 'number' ? r.status : 0;
  let body = r.responseJSON;
  if (!body && r.responseText) {
    try {
      body = JSON.parse(r.responseText) as FailedResponse['responseJSON'];
    } catch {
      body = undefined;
    }
  }
  const said = body?.error?.message;
  const problems = body?.error?.problems ?? [];
  if (status === 0 || status === 502 || status === 504) {
    return new ServiceError('unreachable', status, 'Lifecycle Desk cannot be reached right now. Nothing was changed; try again in a minute.');
  }
  if (status === 401)
    return new ServiceError(
      'unauthorized',
      status,
      `Lifecycle Desk did not accept this app's sign-in. ${said ?? ''} If it keeps happening, ask your Zendesk admin to check the app's settings.`.trim(),
    );
  if (status === 403) return new ServiceError('forbidden', status, said ?? 'Your role may not do that.');
  if (status === 409) return new ServiceError('conflict', status, `${said ?? 'The record changed meanwhile.'} The panel now shows it as it is.`);
  if (status === 400 || status === 404 || status === 422) return new ServiceError('invalid', status, said ?? 'The request is not valid.', problems);
  if (status === 503)
    return new ServiceError(
      'unreachable',
      status,
      `Lifecycle Desk is busy or cannot reach what it needs (${said ?? 'service unavailable'}). Try again in a minute.`,
    );
  return new ServiceError('server', status, `Lifecycle Desk had a problem (${status}). It has been logged; try again, and tell your admin if it persists.`);
}
