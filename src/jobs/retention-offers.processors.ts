import { z } from 'zod';
import { TOPICS } from '../app/topics';
import type { Topic } from '../app/topics';
import { fileDiscountCredit, runWinBack } from '../app/retention-offers';
import type { RetentionDeps, WinBackChannel } from '../app/retention-offers';
import { AppError } from '../records/errors';
import { parsePayload } from './processors';
import type { Processor } from './worker';

const CreditPayload = z.object({ record_id: z.uuid(), period: z.number().int().min(1).max(24) });
const WinBackPayload = z.object({ record_id: z.uuid() });

/**
 * A win-back job runs on its channel's queue. A job queued for one channel while the policy now
 * names another (edited since the offer was declined) still creates its follow-up, through the
 * channel the policy names now; with none named it fails for the team to see.
 */
function winBack(deps: RetentionDeps & { readonly winBack: WinBackChannel | null }, queuedFor: 'zendesk' | 'slack'): Processor {
  return async (payload, ctx) => {
    const { record_id } = parsePayload(WinBackPayload, payload, queuedFor === 'zendesk' ? TOPICS.retentionWinBackTicket : TOPICS.retentionWinBackReminder);
    const channel = deps.winBack;
    if (!channel) throw new AppError('internal', 'a win-back follow-up is due but the policy names no win_back channel', { retryable: false });
    const outcome = await runWinBack({ ...deps, winBack: channel }, record_id);
    ctx.logger.info({ record_id, outcome, via: channel.via }, 'retention win-back');
  };
}

/** The delayed jobs of retention offers: discount credits as periods end, and the win-back follow-up. */
export function retentionOfferProcessors(deps: RetentionDeps & { readonly winBack: WinBackChannel | null }): Partial<Record<Topic, Processor>> {
  return {
    [TOPICS.retentionCredit]: async (payload, ctx) => {
      const { record_id, period } = parsePayload(CreditPayload, payload, TOPICS.retentionCredit);
      const outcome = await fileDiscountCredit(deps, record_id, period);
      ctx.logger.info({ record_id, period, outcome }, 'retention discount credit');
    },
    [TOPICS.retentionWinBackTicket]: winBack(deps, 'zendesk'),
    [TOPICS.retentionWinBackReminder]: winBack(deps, 'slack'),
  };
}
