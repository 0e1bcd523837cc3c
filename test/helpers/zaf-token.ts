import { createHmac } from 'node:crypto';

/** Signs a JWT as Zendesk's app proxy does for a `jwt: { algorithm: 'HS256', secret_key, expiry, claims }` request. */
export function signZafToken(claims: Record<string, unknown>, secret: string, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${enc(header)}.${enc(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

/** The claims the sidebar asks for, as the proxy fills them in at `now` with the app's expiry. */
export function agentClaims(now: Date, over: Record<string, unknown> = {}, expiry = 300): Record<string, unknown> {
  const iat = Math.floor(now.getTime() / 1000);
  return {
    iss: 'https://lifecycle-demo.zendesk.com',
    aud: 'lifecycle-desk',
    sub: '9001',
    email: 'ann.agent@support.example',
    name: 'Ann Agent',
    iat,
    exp: iat + expiry,
    ...over,
  };
}
