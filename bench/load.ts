import { Worker } from 'node:worker_threads';
import { percentile } from './lib';
import type { RunStats } from './lib';

/**
 * Load generator on its own thread (its own core), so the server under test is not competing
 * with the client for the event loop: N signed Zendesk deliveries at a fixed concurrency.
 */
const CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHmac } = require('node:crypto');
const { url, secret, total, concurrency, offset } = workerData;
const body = (i) => JSON.stringify({
  lifecycle_desk: 1,
  ticket: {
    id: String(offset + i), updated_at: new Date().toISOString(), tags: 'lifecycle_request', subject: 'Upgrade please',
    requester: { email: 'ops' + (i % 200) + '@example.com', name: 'Ops' }, assignee_email: 'agent' + (i % 50) + '@support.example',
    fields: { '360001000001': 'lc_upgrade', '360001000002': 'lc_subscription', '360001000003': 'acc_' + (i % 200), '360001000004': 'growth', '360001000008': 'business', '360001000006': 'lc_now' },
  },
});
(async () => {
  const latencies = [];
  let next = 0, failures = 0;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const raw = body(i);
      const ts = new Date().toISOString().replace(/\\.\\d{3}Z$/, 'Z');
      const t0 = process.hrtime.bigint();
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-zendesk-webhook-signature': createHmac('sha256', secret).update(ts).update(raw).digest('base64'), 'x-zendesk-webhook-signature-timestamp': ts }, body: raw });
      await res.arrayBuffer();
      if (res.status !== 200) failures++;
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }));
  parentPort.postMessage({ latencies, seconds: Number(process.hrtime.bigint() - start) / 1e9, failures });
})();
`;

export function runLoad(opts: { url: string; secret: string; total: number; concurrency: number; offset: number }): Promise<RunStats & { failures: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(CODE, { eval: true, workerData: opts });
    w.once('error', reject);
    w.once('message', (m: { latencies: number[]; seconds: number; failures: number }) => {
      void w.terminate();
      const l = m.latencies.sort((a, b) => a - b);
      resolve({ ops: opts.total, seconds: m.seconds, perSecond: opts.total / m.seconds, p50: percentile(l, 50), p95: percentile(l, 95), p99: percentile(l, 99), failures: m.failures });
    });
  });
}
