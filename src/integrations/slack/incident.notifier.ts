import type { WebClient } from '@slack/web-api';
import type { Knex } from 'knex';
import { IN_FLIGHT_STATES } from '../../app/incidents';
import { batchCounts } from '../../db/incident.queries';
import { KnexIncidentRepository } from '../../db/incidents.repository';
import { slackFailure } from './slack.notifier';
import { incidentApprovalMessage, incidentDecidedMessage } from './incident.blocks';

/**
 * Posts an incident batch's one approval request, and keeps that message in line with the batch:
 * the decision, then the credits' progress. Reads current state each time, so a late or repeated
 * job shows the truth.
 */
export class IncidentNotifier {
  constructor(
    private readonly client: WebClient,
    private readonly db: Knex,
    private readonly channel: string,
  ) {}

  private async load(batchId: string) {
    const repo = new KnexIncidentRepository(this.db);
    const batch = await repo.getBatch(batchId);
    if (!batch) return null;
    const shown = [...new Set([...batch.summary.largest.map((l) => l.account_id), ...batch.summary.flagged.map((f) => f.account_id)])];
    const [incident, decisions, names] = await Promise.all([
      repo.get(batch.incident_id),
      repo.decisions(batchId),
      this.db('accounts').whereIn('id', shown).select<{ id: string; name: string }[]>('id', 'name'),
    ]);
    return { batch, incident: incident!, decisions, accountNames: new Map(names.map((n) => [n.id, n.name])) };
  }

  /** Posts the approval request once (a batch that already has its message, or is decided, is left alone). */
  async postBatch(batchId: string): Promise<'posted' | 'already_posted' | 'not_found'> {
    const v = await this.load(batchId);
    if (!v) return 'not_found';
    if (v.batch.message_ts) return 'already_posted';
    const message = incidentApprovalMessage(v);
    let ts: string | undefined;
    try {
      ts = (await this.client.chat.postMessage({ channel: this.channel, text: message.text, blocks: message.blocks, unfurl_links: false })).ts;
    } catch (err) {
      throw slackFailure(err, 'chat.postMessage');
    }
    if (ts) await new KnexIncidentRepository(this.db).setBatchMessage(batchId, this.channel, ts);
    return 'posted';
  }

  /** Updates the batch's message; returns how many of its credits are still on their way. */
  async updateBatch(batchId: string): Promise<{ inFlight: number; updated: boolean }> {
    const v = await this.load(batchId);
    if (!v) return { inFlight: 0, updated: false };
    const counts = await batchCounts(this.db, batchId);
    const inFlight = IN_FLIGHT_STATES.reduce((n, s) => n + (counts[s] ?? 0), 0);
    if (!v.batch.message_ts || !v.batch.channel) return { inFlight, updated: false };
    let message;
    if (v.batch.status === 'pending') {
      message = incidentApprovalMessage(v);
    } else {
      const failed = counts.failed
        ? (
            await this.db('incident_credits as c')
              .join('lifecycle_records as r', 'r.id', 'c.record_id')
              .where({ 'c.batch_id': batchId, 'r.state': 'failed' })
              .orderBy('c.account_id')
              .limit(10)
              .select<{ account_id: string }[]>('c.account_id')
          ).map((r) => r.account_id)
        : [];
      message = incidentDecidedMessage({ ...v, counts, failed });
    }
    try {
      await this.client.chat.update({ channel: v.batch.channel, ts: v.batch.message_ts, text: message.text, blocks: message.blocks });
    } catch (err) {
      throw slackFailure(err, 'chat.update');
    }
    return { inFlight, updated: true };
  }
}
