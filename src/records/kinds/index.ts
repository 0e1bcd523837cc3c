import { z } from 'zod';
import { AppError } from '../errors';
import { COMMON_REQUEST_FIELDS } from './common';
import type { KindModule, LifecycleRecord, RecordOf } from './common';
import { downgrade, DOWNGRADE_SUBTYPES, DowngradeDetailsSchema } from './downgrade';
import { serviceCredit, SERVICE_CREDIT_SUBTYPES, ServiceCreditDetailsSchema } from './service-credit';
import { statusChange, STATUS_CHANGE_SUBTYPES, StatusChangeDetailsSchema } from './status-change';
import { termination, TERMINATION_SUBTYPES, TerminationDetailsSchema } from './termination';
import { upgrade, UPGRADE_SUBTYPES, UpgradeDetailsSchema } from './upgrade';

/**
 * The registry of record kinds (DESIGN.md section 1). Each kind lives in its own module under
 * `kinds/`: its subtypes, details schema, validation, account changes, billing effects, labels
 * and summary. Adding a kind is a new module plus one line in each table below (see the README,
 * "Adding a record kind").
 */

/** Subtypes and details schema of each kind, as data (what the request schema is built from). */
const KIND_SPECS = {
  downgrade: { subtypes: DOWNGRADE_SUBTYPES, details: DowngradeDetailsSchema },
  upgrade: { subtypes: UPGRADE_SUBTYPES, details: UpgradeDetailsSchema },
  termination: { subtypes: TERMINATION_SUBTYPES, details: TerminationDetailsSchema },
  status_change: { subtypes: STATUS_CHANGE_SUBTYPES, details: StatusChangeDetailsSchema },
  service_credit: { subtypes: SERVICE_CREDIT_SUBTYPES, details: ServiceCreditDetailsSchema },
} as const;

type Specs = typeof KIND_SPECS;
export type Kind = keyof Specs;
export const KINDS = Object.keys(KIND_SPECS) as Kind[];

/** Subtypes of each record kind. */
export const SUBTYPES = Object.fromEntries(KINDS.map((k) => [k, KIND_SPECS[k].subtypes])) as { readonly [K in Kind]: Specs[K]['subtypes'] };
export type Subtype<K extends Kind = Kind> = Specs[K]['subtypes'][number];

export const DETAILS_SCHEMAS = Object.fromEntries(KINDS.map((k) => [k, KIND_SPECS[k].details])) as { readonly [K in Kind]: Specs[K]['details'] };
export type DetailsByKind = { [K in Kind]: z.infer<Specs[K]['details']> };

/** The code of each kind, registered once. */
export const KIND_MODULES: { readonly [K in Kind]: KindModule<K> } = {
  downgrade,
  upgrade,
  termination,
  status_change: statusChange,
  service_credit: serviceCredit,
};

const requestOf = <K extends Kind>(kind: K) =>
  z
    .object({
      kind: z.literal(kind),
      subtype: z.enum(SUBTYPES[kind] as unknown as [Subtype<K>, ...Subtype<K>[]], {
        error: `expected one of: ${SUBTYPES[kind].join(', ')}`,
      }),
      ...COMMON_REQUEST_FIELDS,
      details: KIND_SPECS[kind].details as Specs[K]['details'],
    })
    .strict();

type RequestSchemaOf<K extends Kind> = ReturnType<typeof requestOf<K>>;
/** What an agent (or a mapped Zendesk ticket) asks for, of any kind. */
export type RecordRequest = { [K in Kind]: z.infer<RequestSchemaOf<K>> }[Kind];
export type RecordRequestOf<K extends Kind> = Extract<RecordRequest, { kind: K }>;

/**
 * What an agent (or a mapped Zendesk ticket) asks for. Structural validation only; whether the
 * request can be true for this account is checked against the catalog in `validation.ts`.
 */
export const RecordRequestSchema = z.discriminatedUnion('kind', KINDS.map(requestOf) as unknown as [RequestSchemaOf<'downgrade'>, ...RequestSchemaOf<Kind>[]], {
  error: `kind: expected one of: ${KINDS.join(', ')}`,
}) as unknown as z.ZodType<RecordRequest, z.input<RequestSchemaOf<Kind>>>;

/** A submitted record typed by its kind: `switch (r.kind)` narrows subtype and details. */
export type TypedRecord = { [K in Kind]: RecordOf<K> }[Kind];

export const isKind = (kind: unknown): kind is Kind => typeof kind === 'string' && Object.hasOwn(KIND_SPECS, kind);

/**
 * The record as the typed union. Its kind and subtype are checked (a record whose subtype its
 * kind does not have cannot be applied or billed: that is a bug or a hand edit, so this throws
 * rather than guess); its details are what the kind's schema produced when it was submitted.
 */
export function typedRecord(record: LifecycleRecord): TypedRecord {
  if (!isKind(record.kind)) throw new AppError('internal', `record ${record.id} has unknown kind "${String(record.kind)}"`);
  if (!(SUBTYPES[record.kind] as readonly string[]).includes(record.subtype)) {
    throw new AppError(
      'internal',
      `record ${record.id}: "${record.subtype}" is not a subtype of ${record.kind}; expected one of: ${SUBTYPES[record.kind].join(', ')}`,
    );
  }
  return record as unknown as TypedRecord;
}

/** The module of a kind; generic over the kind, so calls through it stay typed. */
export const kindModule = <K extends Kind>(kind: K): KindModule<K> => KIND_MODULES[kind];

export { ACCOUNT_STATUSES, EffectiveSchema, IsoDateSchema, ProrationSchema, SlaSchema, STATES } from './common';
export type { AccountStatus, Effective, LifecycleRecord, Proration, RecordOf, Requester, Sla, State } from './common';
export { DowngradeDetailsSchema, ServiceCreditDetailsSchema, StatusChangeDetailsSchema, TerminationDetailsSchema, UpgradeDetailsSchema };
export { STATUS_AFTER } from './status-change';
export type DowngradeDetails = DetailsByKind['downgrade'];
export type UpgradeDetails = DetailsByKind['upgrade'];
export type TerminationDetails = DetailsByKind['termination'];
export type StatusChangeDetails = DetailsByKind['status_change'];
export type ServiceCreditDetails = DetailsByKind['service_credit'];
