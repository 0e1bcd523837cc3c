import { AppError } from '../records/errors';
import type { IngestOutcome, TicketIntake } from './ingest-ticket';

export interface IngestBatcherOptions {
  /** Most deliveries in one transaction. */
  readonly maxBatch?: number;
  /** Batches running at once (each holds one database connection). */
  readonly maxConcurrent?: number;
  /** Deliveries allowed to wait; beyond this new ones are refused with 503 so Zendesk retries later. */
  readonly maxQueued?: number;
  /**
   * Longest a delivery waits for a slot (ms) before it is refused with 503: Zendesk gives up on a
   * webhook after 10 s, so an answer it will still read beats one it won't.
   */
  readonly maxWaitMs?: number;
  /**
   * Failures that say nothing about the batch's deliveries (the database is down, a statement
   * timed out): these fail every delivery of the batch at once instead of retrying them one by one.
   */
  readonly failsWholeBatch?: (err: unknown) => boolean;
  /** Told the size of every batch that starts (for metrics). */
  readonly onBatch?: (size: number) => void;
}

interface Waiting {
  readonly intake: TicketIntake;
  readonly resolve: (o: IngestOutcome) => void;
  readonly reject: (e: unknown) => void;
  timer?: NodeJS.Timeout;
}

/**
 * Group commit for webhook intake. A delivery that arrives while a batch slot is free runs at
 * once, alone; deliveries that arrive while every slot is busy wait and then go together, in one
 * transaction with one statement per table, which is what keeps intake fast under load. A batch
 * never holds two deliveries of one ticket (or one delivery twice), and no two running batches
 * share a ticket, so per-ticket ordering is what it would be one by one. If a batch fails, its
 * deliveries are retried one by one (unless the database itself is the problem), so one bad
 * delivery only fails itself.
 */
export class IngestBatcher {
  private queue: Waiting[] = [];
  private running = 0;
  private readonly busyTickets = new Set<string>();
  private readonly opts: Required<IngestBatcherOptions>;

  constructor(
    private readonly ingest: (intakes: readonly TicketIntake[]) => Promise<IngestOutcome[]>,
    opts: IngestBatcherOptions = {},
  ) {
    this.opts = { maxBatch: 64, maxConcurrent: 4, maxQueued: 5000, maxWaitMs: 4000, failsWholeBatch: () => false, onBatch: () => undefined, ...opts };
  }

  submit(intake: TicketIntake): Promise<IngestOutcome> {
    if (this.queue.length >= this.opts.maxQueued) {
      return Promise.reject(new AppError('unavailable', 'Too many webhook deliveries are waiting; retry shortly', { retryable: true }));
    }
    return new Promise<IngestOutcome>((resolve, reject) => {
      const waiting: Waiting = { intake, resolve, reject };
      this.queue.push(waiting);
      this.pump();
      if (this.queue.includes(waiting)) {
        waiting.timer = setTimeout(() => {
          const i = this.queue.indexOf(waiting);
          if (i < 0) return;
          this.queue.splice(i, 1);
          reject(new AppError('unavailable', `The webhook waited ${this.opts.maxWaitMs} ms for the database; retry shortly`, { retryable: true }));
        }, this.opts.maxWaitMs);
      }
    });
  }

  /** Deliveries waiting for a slot (for tests and metrics). */
  get queued(): number {
    return this.queue.length;
  }

  private pump(): void {
    while (this.running < this.opts.maxConcurrent && this.queue.length > 0) {
      const batch: Waiting[] = [];
      const rest: Waiting[] = [];
      const taken = new Set<string>();
      for (const w of this.queue) {
        const ticket = ticketKey(w.intake);
        if (batch.length < this.opts.maxBatch && !this.busyTickets.has(ticket) && !taken.has(ticket)) {
          batch.push(w);
          taken.add(ticket);
        } else rest.push(w);
      }
      if (batch.length === 0) return; // everything waiting is on a ticket in a running batch
      this.queue = rest;
      for (const w of batch) clearTimeout(w.timer);
      this.opts.onBatch(batch.length);
      this.running += 1;
      for (const t of taken) this.busyTickets.add(t);
      void this.run(batch).finally(() => {
        this.running -= 1;
        for (const t of taken) this.busyTickets.delete(t);
        this.pump();
      });
    }
  }

  private async run(batch: Waiting[]): Promise<void> {
    try {
      const outcomes = await this.ingest(batch.map((w) => w.intake));
      batch.forEach((w, i) => w.resolve(outcomes[i]!));
    } catch (err) {
      if (batch.length === 1 || this.opts.failsWholeBatch(err)) {
        for (const w of batch) w.reject(err);
        return;
      }
      // Nothing of the batch committed; find out which delivery (if any) is at fault, one at a
      // time within this slot, so a bad batch never takes more connections than a good one.
      for (const w of batch) {
        try {
          const [outcome] = await this.ingest([w.intake]);
          w.resolve(outcome!);
        } catch (e) {
          w.reject(e);
        }
      }
    }
  }
}

// Delivery keys are unique per ticket version, so one ticket per batch also means one key per batch.
const ticketKey = (i: TicketIntake) => `${i.source}\u0000${i.ticketId}`;
