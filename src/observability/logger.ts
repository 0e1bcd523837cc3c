import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/**
 * Paths that may hold secrets or customer PII. Logs go to shared systems that support staff,
 * contractors and vendors read; none of this belongs there.
 */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-zendesk-webhook-signature"]',
  'req.headers["x-slack-signature"]',
  '*.password',
  '*.token',
  '*.secret',
  '*.api_key',
  '*.apiToken',
  '*.email',
  '*.requester',
  '*.contacts',
  '*.name',
  'email',
  'requester',
  'contacts',
];

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;

/** Scrubs email addresses out of free-text messages, which path-based redaction cannot see. */
export const scrubEmails = (s: string): string => s.replace(EMAIL, '[email]');

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'lifecycle-desk' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((a) => (typeof a === 'string' ? scrubEmails(a) : a)) as Parameters<typeof method>);
        },
      },
      serializers: {
        err: (e: Error) => {
          const s = pino.stdSerializers.err(e);
          return { ...s, message: scrubEmails(s.message), stack: s.stack ? scrubEmails(s.stack) : s.stack };
        },
      },
    },
    destination,
  );
}
