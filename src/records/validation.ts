import { validationError } from './errors';
import { kindModule } from './kinds';
import type { Effective, Kind, RecordRequest, RecordRequestOf } from './kinds';
import type { Assessment, AssessContext } from './kinds/common';
import { compact, q } from './kinds/common';
import type { Catalog } from './catalog';

/**
 * Business validation of a structurally valid request against the account and the catalog
 * (DESIGN.md section 1): rejects what cannot be true and fills in what the catalog and the
 * contract determine (price delta, SLA, proration, fees, credits). Pure: time comes in `now`.
 * The rules of each kind live in its module (`kinds/<kind>.ts`); this dispatches.
 */

export type { Assessment, AssessContext };
export { chargesForWindow } from './kinds/service-credit';
export { DEFAULT_DATA_RETENTION_DAYS, STATUS_CHANGE_FROM } from './kinds/status-change';

/**
 * Assesses a request. Never throws for business problems: every problem found is returned, each
 * naming its field and saying how to fix it, so an agent can correct a draft in one go.
 */
export function assessRequest(request: RecordRequest, ctx: AssessContext): Assessment {
  const { account } = ctx;
  if (!account) {
    return {
      problems: [
        {
          field: 'account_id',
          message: `no account ${q(request.account_id)}; import it with \`lifecycle-desk accounts import\` or check the id`,
        },
      ],
      details: compact(request.details),
      amount: null,
      effective: request.effective ?? defaultEffective(request, ctx.catalog),
      effective_at: null,
    };
  }
  return assessOf(request, account, ctx);
}

const assessOf = <K extends Kind>(request: RecordRequestOf<K>, account: NonNullable<AssessContext['account']>, ctx: AssessContext): Assessment =>
  kindModule(request.kind as K).assess(request, account, ctx);

function defaultEffective(request: RecordRequest, catalog: Catalog): Effective {
  return kindModule(request.kind).defaultEffective(catalog);
}

/** Throws a `validation_failed` AppError listing the problems, if there are any. */
export function assertValid(assessment: Pick<Assessment, 'problems'>): void {
  if (assessment.problems.length > 0) throw validationError(assessment.problems);
}
