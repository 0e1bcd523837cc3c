import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process (not prom-client's global one), so tests can build several apps side by side. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: 'lifecycle_desk_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly recordsCreated = new Counter({
    name: 'lifecycle_desk_records_created_total',
    help: 'Lifecycle records created, by kind and initial state',
    labelNames: ['kind', 'state'] as const,
    registers: [this.registry],
  });
  readonly transitions = new Counter({
    name: 'lifecycle_desk_record_transitions_total',
    help: 'Lifecycle transitions, by event and resulting state',
    labelNames: ['event', 'state'] as const,
    registers: [this.registry],
  });
  readonly webhookDeliveries = new Counter({
    name: 'lifecycle_desk_webhook_deliveries_total',
    help: 'Inbound webhook deliveries by source and outcome',
    labelNames: ['source', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly intakeBatchSize = new Histogram({
    name: 'lifecycle_desk_intake_batch_size',
    help: 'Webhook deliveries committed per intake transaction (group commit under load)',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'lifecycle_desk_' });
  }
}
