import { verifyZafToken } from '../../src/integrations/zendesk/zaf-jwt';
import { agentClaims, signZafToken } from '../helpers/zaf-token';

const SECRET = 'zaf-shared-secret-0123456789abcdef';
const NOW = new Date('2026-03-10T12:00:00Z');
const verify = (token: string | undefined, over: Partial<Parameters<typeof verifyZafToken>[0]> = {}) =>
  verifyZafToken({ token, secrets: [SECRET], subdomain: 'lifecycle-demo', now: NOW, ...over });

describe('verifyZafToken', () => {
  it('accepts a token the proxy signed with the shared secret and names the agent', () => {
    const r = verify(`Bearer ${signZafToken(agentClaims(NOW), SECRET)}`);
    expect(r).toEqual({ ok: true, agent: { id: '9001', email: 'ann.agent@support.example', name: 'Ann Agent' }, expiresAt: new Date(NOW.getTime() + 300_000) });
  });

  it('accepts the next secret while the secret is rotated', () => {
    expect(verify(signZafToken(agentClaims(NOW), 'next-secret'), { secrets: [SECRET, 'next-secret'] }).ok).toBe(true);
  });

  it('refuses an expired token', () => {
    const issued = new Date(NOW.getTime() - 301_000);
    expect(verify(signZafToken(agentClaims(issued), SECRET))).toEqual({ ok: false, reason: 'expired' });
    // One second before expiry it still passes: the boundary is exp itself.
    expect(verify(signZafToken(agentClaims(new Date(NOW.getTime() - 299_000)), SECRET)).ok).toBe(true);
  });

  it('refuses a token signed with another secret', () => {
    expect(verify(signZafToken(agentClaims(NOW), 'not-the-secret'))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a token from another Zendesk account', () => {
    expect(verify(signZafToken(agentClaims(NOW, { iss: 'https://evil.zendesk.com' }), SECRET))).toEqual({ ok: false, reason: 'wrong_subdomain' });
    expect(verify(signZafToken(agentClaims(NOW, { iss: 'https://lifecycle-demo.zendesk.com.evil.example' }), SECRET))).toEqual({
      ok: false,
      reason: 'wrong_subdomain',
    });
    expect(verify(signZafToken(agentClaims(NOW, { iss: undefined }), SECRET))).toEqual({ ok: false, reason: 'wrong_subdomain' });
  });

  it.each([
    ['sub', { sub: undefined }],
    ['sub that is no user id', { sub: '{{current_user.id}}' }],
    ['email', { email: undefined }],
    ['email that is no address', { email: 'ann' }],
    ['iat', { iat: undefined }],
    ['exp', { exp: undefined }],
  ])('refuses a token without %s', (_name, over) => {
    expect(verify(signZafToken(agentClaims(NOW, over), SECRET))).toEqual({ ok: false, reason: 'missing_claims' });
  });

  it('refuses a token meant for another service', () => {
    expect(verify(signZafToken(agentClaims(NOW, { aud: 'other-service' }), SECRET))).toEqual({ ok: false, reason: 'wrong_audience' });
  });

  it('refuses tokens issued in the future or living too long', () => {
    expect(verify(signZafToken(agentClaims(new Date(NOW.getTime() + 120_000)), SECRET))).toEqual({ ok: false, reason: 'not_yet_valid' });
    expect(verify(signZafToken(agentClaims(NOW, {}, 7200), SECRET))).toEqual({ ok: false, reason: 'lifetime_too_long' });
  });

  it('refuses other algorithms (none, HS512) before looking at the signature', () => {
    const claims = agentClaims(NOW);
    const none = signZafToken(claims, SECRET, { alg: 'none' }).split('.').slice(0, 2).join('.') + '.';
    expect(verify(none).ok).toBe(false);
    expect(verify(signZafToken(claims, SECRET, { alg: 'HS512' }))).toEqual({ ok: false, reason: 'unsupported_algorithm' });
  });

  it('refuses what is not a token', () => {
    expect(verify(undefined)).toEqual({ ok: false, reason: 'missing' });
    expect(verify('Bearer ')).toEqual({ ok: false, reason: 'missing' });
    expect(verify('Bearer abc.def')).toEqual({ ok: false, reason: 'malformed' });
    expect(verify('Bearer eyJhbGciOiJIUzI1NiJ9.e30.!!!')).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses a token whose claims were changed after signing', () => {
    const [h, , s] = signZafToken(agentClaims(NOW), SECRET).split('.');
    const forged = Buffer.from(JSON.stringify(agentClaims(NOW, { sub: '1' }))).toString('base64url');
    expect(verify(`${h}.${forged}.${s}`)).toEqual({ ok: false, reason: 'bad_signature' });
  });
});
