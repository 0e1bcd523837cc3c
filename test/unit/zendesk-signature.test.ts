import { execFileSync } from 'node:child_process';
import { signZendesk, verifyZendeskSignature } from '../../src/integrations/zendesk/signature';

const SECRET = 'dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==';
const TS = '2026-03-16T12:00:00Z';
const NOW = new Date(TS);
const BODY = '{"lifecycle_desk":1,"ticket":{"id":"42","fields":{"360001000001":"lc_upgrade"}}}';
const SIG = signZendesk(SECRET, TS, BODY);

const verify = (over: Partial<Parameters<typeof verifyZendeskSignature>[0]> = {}) =>
  verifyZendeskSignature({ rawBody: Buffer.from(BODY), signature: SIG, timestamp: TS, secrets: [SECRET], now: NOW, ...over });

it('matches an independent implementation of base64(HMAC-SHA256(secret, timestamp + body)) (openssl)', () => {
  const expected = execFileSync('sh', ['-c', `printf '%s%s' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64`], {
    env: { ...process.env, TS, BODY, SECRET },
  })
    .toString()
    .trim();
  expect(SIG).toBe(expected);
  expect(verify()).toEqual({ ok: true });
});

it('refuses any single-byte change of the body', () => {
  for (let i = 0; i < BODY.length; i++) {
    const b = Buffer.from(BODY);
    b[i] = b[i]! ^ 0x01;
    expect(verify({ rawBody: b }).ok).toBe(false);
  }
});

it('refuses any single-character change of the timestamp', () => {
  for (let i = 0; i < TS.length; i++) {
    const chars = [...TS];
    chars[i] = chars[i] === '1' ? '2' : '1';
    expect(verify({ timestamp: chars.join('') }).ok).toBe(false);
  }
});

it('refuses any single-byte change of the signature', () => {
  const raw = Buffer.from(SIG, 'base64');
  for (let i = 0; i < raw.length; i++) {
    const b = Buffer.from(raw);
    b[i] = b[i]! ^ 0x80;
    expect(verify({ signature: b.toString('base64') }).ok).toBe(false);
  }
  expect(verify({ signature: SIG.slice(0, -2) + '==' }).ok).toBe(false);
});

it('accepts ±299 s and refuses ±301 s of clock difference', () => {
  for (const [delta, ok] of [
    [299, true],
    [-299, true],
    [301, false],
    [-301, false],
  ] as const) {
    expect(verify({ now: new Date(NOW.getTime() + delta * 1000) }).ok).toBe(ok);
  }
  expect(verify({ now: new Date(NOW.getTime() + 301_000) })).toEqual({ ok: false, reason: expect.stringMatching(/stale or replayed/) });
});

it('accepts either of two rotation secrets, and nothing else', () => {
  expect(verify({ secrets: ['next-secret', SECRET] }).ok).toBe(true);
  expect(verify({ secrets: [SECRET, 'next-secret'] }).ok).toBe(true);
  expect(verify({ secrets: ['next-secret', 'other'] }).ok).toBe(false);
});

it('names what is missing or malformed without echoing secrets', () => {
  expect(verify({ signature: undefined })).toEqual({ ok: false, reason: 'missing x-zendesk-webhook-signature header' });
  expect(verify({ timestamp: undefined })).toEqual({ ok: false, reason: 'missing x-zendesk-webhook-signature-timestamp header' });
  expect(verify({ timestamp: '1710590400' }).ok).toBe(false);
  expect(verify({ signature: 'not base64!' }).ok).toBe(false);
  expect(verify({ secrets: [] })).toEqual({ ok: false, reason: expect.stringMatching(/ZENDESK_WEBHOOK_SECRET/) });
  expect(JSON.stringify(verify({ secrets: ['wrong'] }))).not.toContain('wrong');
});
