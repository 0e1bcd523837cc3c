import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Knex } from 'knex';
import type { WebClient } from '@slack/web-api';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import { parseSigningKey, signCheckpoint } from '../records/checkpoint';
import type { Checkpoint } from '../records/checkpoint';
import { readChainHeads } from '../db/audit.queries';

/** Signs every chain's current head. The key is passed in; the database never sees it. */
export async function createCheckpoint(db: Knex, key: KeyObject, now: Date): Promise<Checkpoint> {
  return signCheckpoint(await readChainHeads(db), now, key);
}

export const checkpointText = (cp: Checkpoint): string => `${JSON.stringify(cp, null, 2)}\n`;

/** Writes the checkpoint atomically (temporary file, then rename) so a reader never sees half a file. */
export function writeCheckpointFile(file: string, cp: Checkpoint): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, checkpointText(cp), { mode: 0o644 });
  renameSync(tmp, file);
}

/** `checkpoint-2026-03-16T10-00-00.000Z.json`: sorts by time, safe on every file system. */
export const checkpointFileName = (cp: Checkpoint): string => `checkpoint-${cp.created_at.replace(/:/g, '-')}.json`;

/**
 * Posts the checkpoint to a Slack channel: a witness outside the database and the service's
 * host. The message carries the whole signed checkpoint when it is small, and always its digest,
 * so the file kept elsewhere can be matched with what Slack recorded at the time.
 */
export async function postCheckpoint(client: WebClient, channel: string, cp: Checkpoint): Promise<void> {
  const text = checkpointText(cp);
  const digest = createHash('sha256').update(text).digest('hex');
  const summary = `Audit checkpoint ${cp.created_at}: ${cp.chains.length} chain head(s) signed with key ${cp.key_id}; file sha256 ${digest}`;
  await client.chat.postMessage({ channel, text: text.length <= 3500 ? `${summary}\n\`\`\`${text}\`\`\`` : summary, unfurl_links: false });
}

/**
 * The periodic checkpoint job of a worker process: signs the heads every
 * AUDIT_CHECKPOINT_INTERVAL_MS and writes them to AUDIT_CHECKPOINT_DIR and/or posts them to
 * SLACK_AUDIT_CHANNEL. Off unless AUDIT_SIGNING_KEY and one of those is set. Several workers
 * may each write one; every checkpoint is valid on its own.
 */
export class AuditCheckpointJob {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Knex,
    private readonly key: KeyObject,
    private readonly targets: { readonly dir?: string | undefined; readonly slack?: { client: WebClient; channel: string } | undefined },
    private readonly everyMs: number,
    private readonly logger: Logger,
  ) {}

  async runOnce(now = new Date()): Promise<Checkpoint> {
    const cp = await createCheckpoint(this.db, this.key, now);
    if (this.targets.dir) writeCheckpointFile(path.join(this.targets.dir, checkpointFileName(cp)), cp);
    if (this.targets.slack) await postCheckpoint(this.targets.slack.client, this.targets.slack.channel, cp);
    this.logger.info({ chains: cp.chains.length, key_id: cp.key_id }, 'audit checkpoint signed');
    return cp;
  }

  start(): void {
    const tick = () => {
      this.runOnce().catch((err: Error) => this.logger.error({ err: { message: err.message } }, 'audit checkpoint failed; retrying at the next interval'));
      this.timer = setTimeout(tick, this.everyMs);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, Math.min(this.everyMs, 5000));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** The job configured from the environment, or null when checkpoints are not configured. */
export function auditCheckpointJob(config: Config, db: Knex, slack: WebClient | null, logger: Logger): AuditCheckpointJob | null {
  const a = config.audit;
  if (!a.signingKey || a.checkpointIntervalMs === 0 || (!a.checkpointDir && !a.slackChannel)) return null;
  return new AuditCheckpointJob(
    db,
    parseSigningKey(a.signingKey),
    { dir: a.checkpointDir, slack: a.slackChannel && slack ? { client: slack, channel: a.slackChannel } : undefined },
    a.checkpointIntervalMs,
    logger,
  );
}
