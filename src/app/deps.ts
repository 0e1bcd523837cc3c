import type { Catalog } from '../records/catalog';
import type { Clock, IdGenerator, TransactionRunner } from '../records/ports';

/** What the use-cases need from the outside world, injected by main.ts (and by tests). */
export interface AppDeps {
  readonly store: TransactionRunner;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly catalog: Catalog;
}
