import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config';
import type { Config } from '../../src/config';
import { startService } from '../../src/main';
import type { Service, StartOptions } from '../../src/main';
import { createLogger } from '../../src/observability/logger';
import { startStandins } from '../../devtools/standins';
import type { StandinStack } from '../../devtools/standins';
import { signZendesk } from '../../src/integrations/zendesk/signature';
import type { TestDb } from './db';
import { uniquePrefix } from './redis';

export const TEST_API_TOKEN = 'test-api-token-0123456789';

export interface TestService {
  readonly service: Service;
  readonly stack: StandinStack;
  readonly config: Config;
  /** http://127.0.0.1:port when the web side runs. */
  readonly base: string;
  close(): Promise<void>;
}

/** The real service (web and/or workers) over a test database, a unique queue prefix and the stand-ins. */
export async function startTestService(
  t: TestDb,
  opts: Omit<StartOptions, 'logger' | 'listen'> & { env?: Record<string, string>; redisUrl?: string } = {},
): Promise<TestService> {
  const stack = await startStandins();
  const config = loadConfig({
    ...stack.env,
    DATABASE_URL: t.url,
    REDIS_URL: opts.redisUrl ?? 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: uniquePrefix('svc'),
    PORT: '0',
    HOST: '127.0.0.1',
    API_TOKEN: TEST_API_TOKEN,
    LOG_LEVEL: 'silent',
    // Tests watch tickets change as records move; the production debounce would only slow them.
    ZENDESK_SYNC_DELAY_MS: '0',
    ...opts.env,
  });
  const service = await startService(config, { ...opts, logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent') });
  const addr = service.http?.server.address() as AddressInfo | null;
  return {
    service,
    stack,
    config,
    base: addr ? `http://127.0.0.1:${addr.port}` : '',
    async close() {
      await service.stop();
      await stack.close();
    },
  };
}

/** Headers Zendesk would send with a delivery signed by `secret` at `at`. */
export function zendeskHeaders(secret: string, body: string | Buffer, at = new Date(), invocationId?: string): Record<string, string> {
  const ts = at.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    'content-type': 'application/json',
    'x-zendesk-webhook-signature': signZendesk(secret, ts, body),
    'x-zendesk-webhook-signature-timestamp': ts,
    ...(invocationId ? { 'x-zendesk-webhook-invocation-id': invocationId } : {}),
  };
}

export const until = async (cond: () => Promise<boolean> | boolean, ms = 10_000, what = 'condition') => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what} not met within ${ms} ms`);
};
