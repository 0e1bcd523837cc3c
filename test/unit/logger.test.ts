import { Writable } from 'node:stream';
import { createLogger } from '../../src/observability/logger';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { logger: createLogger('info', stream), out: () => lines.join('') };
}

it('redacts secrets and customer emails wherever they appear', () => {
  const { logger, out } = capture();
  logger.info(
    {
      req: { headers: { authorization: 'Bearer s3cr3t-token', 'x-zendesk-webhook-signature': 'sig==' } },
      record: { requester: { email: 'jane@customer.example', name: 'Jane' }, token: 'tok_123' },
      email: 'bob@customer.example',
    },
    'mail for jane@customer.example bounced',
  );
  const text = out();
  for (const secret of ['s3cr3t-token', 'sig==', 'jane@customer.example', 'bob@customer.example', 'tok_123', 'Jane']) {
    expect(text).not.toContain(secret);
  }
  expect(text).toContain('[redacted]');
  expect(text).toContain('mail for [email] bounced');
});

it('scrubs emails out of error messages', () => {
  const { logger, out } = capture();
  logger.error({ err: new Error('550 no such user carl@customer.example') }, 'send failed');
  expect(out()).not.toContain('carl@customer.example');
  expect(out()).toContain('550 no such user [email]');
});
