import { isValidSlackRequest } from '@slack/bolt';
import { signSlackRequest, slackSignatureHeaders, verifySlackSignature } from '../../src/integrations/slack/signature';
import { slackInteractionRequest, slackSlashCommandRequest } from '../helpers/fake-slack';

// Slack's worked example (docs.slack.dev/authentication/verifying-requests-from-slack).
const DOC_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const DOC_TIMESTAMP = 1531420618;
const DOC_BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const DOC_SIGNATURE = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';

const SECRET = 'test-signing-secret';
const NOW = 1773662400; // 2026-03-16T12:00:00Z

const check = (overrides: Partial<Parameters<typeof verifySlackSignature>[0]> = {}) => {
  const rawBody = overrides.rawBody ?? 'payload=%7B%7D';
  const timestamp = NOW;
  return verifySlackSignature({
    secret: SECRET,
    signature: signSlackRequest(SECRET, timestamp, rawBody),
    timestamp: String(timestamp),
    rawBody,
    nowSeconds: NOW,
    ...overrides,
  });
};

describe('signSlackRequest', () => {
  it("reproduces Slack's published example", () => {
    expect(signSlackRequest(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY)).toBe(DOC_SIGNATURE);
    expect(signSlackRequest(DOC_SECRET, DOC_TIMESTAMP, Buffer.from(DOC_BODY))).toBe(DOC_SIGNATURE);
  });

  it("signs requests Bolt's own verifier accepts", () => {
    const body = '{"type":"event_callback"}';
    const nowMs = NOW * 1000;
    const headers = slackSignatureHeaders(SECRET, NOW, body);
    expect(
      isValidSlackRequest({
        signingSecret: SECRET,
        body,
        headers: { 'x-slack-signature': headers['x-slack-signature']!, 'x-slack-request-timestamp': Number(headers['x-slack-request-timestamp']) },
        nowMilliseconds: nowMs,
      }),
    ).toBe(true);
  });

  it('refuses an empty secret or a fractional timestamp', () => {
    expect(() => signSlackRequest('', NOW, 'x')).toThrow(/secret/);
    expect(() => signSlackRequest(SECRET, NOW + 0.5, 'x')).toThrow(/whole Unix seconds/);
  });
});

describe('verifySlackSignature', () => {
  it("accepts Slack's example at its own time", () => {
    expect(
      verifySlackSignature({ secret: DOC_SECRET, signature: DOC_SIGNATURE, timestamp: '1531420618', rawBody: DOC_BODY, nowSeconds: DOC_TIMESTAMP }),
    ).toEqual({ ok: true });
  });

  it('accepts a freshly signed request', () => {
    expect(check()).toEqual({ ok: true });
  });

  it('refuses a body changed after signing', () => {
    const signature = signSlackRequest(SECRET, NOW, 'payload=%7B%22a%22%3A1%7D');
    expect(check({ signature, rawBody: 'payload=%7B%22a%22%3A2%7D' })).toEqual({ ok: false, reason: 'signature_mismatch' });
  });

  it('refuses a signature made with another secret', () => {
    expect(check({ signature: signSlackRequest('other-secret', NOW, 'payload=%7B%7D') })).toEqual({ ok: false, reason: 'signature_mismatch' });
  });

  it('refuses a signature over another timestamp (the timestamp is part of what is signed)', () => {
    expect(check({ signature: signSlackRequest(SECRET, NOW - 1, 'payload=%7B%7D') })).toEqual({ ok: false, reason: 'signature_mismatch' });
  });

  it('refuses stale and future requests beyond five minutes, either way', () => {
    const at = (ts: number) => check({ timestamp: String(ts), signature: signSlackRequest(SECRET, ts, 'payload=%7B%7D') });
    expect(at(NOW - 300)).toEqual({ ok: true });
    expect(at(NOW + 300)).toEqual({ ok: true });
    expect(at(NOW - 301)).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(at(NOW + 301)).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(check({ timestamp: String(NOW - 60), signature: signSlackRequest(SECRET, NOW - 60, 'payload=%7B%7D'), toleranceSeconds: 30 })).toEqual({
      ok: false,
      reason: 'stale_timestamp',
    });
  });

  it('names what is missing or malformed, without throwing', () => {
    expect(check({ signature: undefined })).toEqual({ ok: false, reason: 'missing_signature' });
    expect(check({ timestamp: undefined })).toEqual({ ok: false, reason: 'missing_timestamp' });
    expect(check({ timestamp: '12.5' })).toEqual({ ok: false, reason: 'invalid_timestamp' });
    expect(check({ timestamp: 'now' })).toEqual({ ok: false, reason: 'invalid_timestamp' });
    expect(check({ secret: '' })).toEqual({ ok: false, reason: 'missing_secret' });
    expect(check({ signature: 'v1=' + 'a'.repeat(64) })).toEqual({ ok: false, reason: 'unknown_version' });
    // Wrong length would make a naive timingSafeEqual throw; here it is simply malformed.
    expect(check({ signature: 'v0=abc' })).toEqual({ ok: false, reason: 'malformed_signature' });
    expect(check({ signature: 'v0=' + 'z'.repeat(64) })).toEqual({ ok: false, reason: 'malformed_signature' });
  });

  it('accepts either secret during a rotation', () => {
    const signature = signSlackRequest('new-secret', NOW, 'payload=%7B%7D');
    expect(check({ secret: ['old-secret', 'new-secret'], signature })).toEqual({ ok: true });
    expect(check({ secret: ['old-secret'], signature })).toEqual({ ok: false, reason: 'signature_mismatch' });
  });

  it('hashes raw bytes, so a body that is not valid UTF-8 still verifies byte for byte', () => {
    const raw = Buffer.from([0x70, 0x3d, 0xff, 0xfe, 0x00]);
    expect(check({ rawBody: raw, signature: signSlackRequest(SECRET, NOW, raw) })).toEqual({ ok: true });
    expect(check({ rawBody: raw.toString('utf8'), signature: signSlackRequest(SECRET, NOW, raw) })).toEqual({ ok: false, reason: 'signature_mismatch' });
  });
});

describe('requests built as Slack sends them', () => {
  it('interactivity: form-encoded `payload` JSON, signed over the exact body', () => {
    const payload = { type: 'block_actions', user: { id: 'U1' }, actions: [{ action_id: 'approval_approve', value: '{"record_id":"r1","version":3}' }] };
    const req = slackInteractionRequest(payload, { signingSecret: SECRET, timestamp: NOW });
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(JSON.parse(new URLSearchParams(req.body).get('payload')!)).toEqual(payload);
    expect(
      verifySlackSignature({
        secret: SECRET,
        signature: req.headers['x-slack-signature'],
        timestamp: req.headers['x-slack-request-timestamp'],
        rawBody: req.body,
        nowSeconds: NOW,
      }),
    ).toEqual({
      ok: true,
    });
  });

  it('slash commands: plain form fields', () => {
    const req = slackSlashCommandRequest(
      { command: '/lifecycle', text: 'acc_acme', user_id: 'U1', response_url: 'http://127.0.0.1/response/1', trigger_id: '1.2.3' },
      { signingSecret: SECRET, timestamp: NOW },
    );
    expect(new URLSearchParams(req.body).get('command')).toBe('/lifecycle');
    expect(req.headers['x-slack-signature']).toBe(signSlackRequest(SECRET, NOW, req.body));
    // Checked independently too: Bolt's own verifier accepts the request as built.
    expect(
      isValidSlackRequest({
        signingSecret: SECRET,
        body: req.body,
        headers: { 'x-slack-signature': req.headers['x-slack-signature']!, 'x-slack-request-timestamp': Number(req.headers['x-slack-request-timestamp']) },
        nowMilliseconds: NOW * 1000,
      }),
    ).toBe(true);
  });
});
