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
const sign = (raw) => {
  const ts = new Date().toISOString().replace(/\\.\\d{3}Z$/, 'Z');
  return { 'content-type': 'application/json', 'x-zendesk-webhook-signature': createHmac('sha256', secret).update(ts).update(raw).digest('base64'), 'x-zendesk-webhook-signature-timestamp': ts };
};
// Open loop: requests leave at fixed instants whether or not earlier ones have been answered;
// latency counts from the instant a request was due, so a stall is not hidden (no coordinated omission).
const openLoop = async (rate, seconds) => {
  const latencies = [];
  let failures = 0;
  const total = Math.round(rate * seconds);
  const start = performance.now() + 50;
  const pending = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const raw = body(i);
    pending.push(
      fetch(url, { method: 'POST', headers: sign(raw), body: raw }).then(
        async (res) => {
          await res.arrayBuffer();
          if (res.status !== 200) failures++;
          latencies.push(performance.now() - due);
        },
        () => {
          failures++;
          latencies.push(performance.now() - due);
        },
      ),
    );
  }
  await Promise.all(pending);
  parentPort.postMessage({ latencies, seconds: (performance.now() - start) / 1000, failures });
};
(async () => {
  if (workerData.rate) return openLoop(workerData.rate, workerData.seconds);
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

/** An open loop: `rate` signed deliveries per second for `seconds`, each timed from the instant it was due. */
export function runOpenLoad(opts: { url: string; secret: string; rate: number; seconds: number; offset: number }): Promise<RunStats & { failures: number }> {
  return runLoad({ ...opts, total: Math.round(opts.rate * opts.seconds), concurrency: 0 });
}

export function runLoad(opts: {
  url: string;
  secret: string;
  total: number;
  concurrency: number;
  offset: number;
  rate?: number;
  seconds?: number;
}): Promise<RunStats & { failures: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(CODE, { eval: true, workerData: opts });
    w.once('error', reject);
    w.once('message', (m: { latencies: number[]; seconds: number; failures: number }) => {
      void w.terminate();
      const l = m.latencies.sort((a, b) => a - b);
      resolve({
        ops: opts.total,
        seconds: m.seconds,
        perSecond: opts.total / m.seconds,
        p50: percentile(l, 50),
        p95: percentile(l, 95),
        p99: percentile(l, 99),
        failures: m.failures,
      });
    });
  });
}
