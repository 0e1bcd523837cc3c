import type { Catalog } from '../records/catalog';
import type { Clock, IdGenerator, TransactionRunner } from '../records/ports';
import type { ReasonTaxonomy } from '../records/reasons';

/** What the use-cases need from the outside world, injected by main.ts (and by tests). */
export interface AppDeps {
  readonly store: TransactionRunner;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly catalog: Catalog;
  /** Allowed reason codes (REASONS_FILE); without it any code is taken (tests that do not care). */
  readonly reasons?: ReasonTaxonomy;
}
