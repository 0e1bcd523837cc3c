import type { AuditEventDraft } from './audit';

/**
 * Personal data stays out of the hash chain. Before an audit event is chained, every value that
 * can name or describe a person — contact emails, names, free-text reasons, feedback and notes,
 * email subjects — is moved into the erasable `personal_data` side table and the event keeps only
 * a reference, `{"$pd": "<id>"}`. The hash covers the reference, so erasing the value (the row is
 * overwritten, never the event) leaves `audit verify` intact. Pure: ids come from the caller.
 */

export type PersonalKind = 'contact_email' | 'email' | 'name' | 'free_text' | 'email_subject';

/** Keys whose string values (or arrays of strings) are personal, wherever they sit in an event's data. */
export const PERSONAL_KEYS: Readonly<Record<string, PersonalKind>> = {
  contacts: 'contact_email',
  email: 'email',
  name: 'name',
  requester: 'email',
  feedback: 'free_text',
  note: 'free_text',
  resolution: 'free_text',
  offer: 'free_text',
  cause: 'free_text',
  reason_text: 'free_text',
  reason: 'free_text',
  subject: 'email_subject',
};

/** What an erased value reads as, wherever it was copied (records, accounts, reads of the trail). */
export const ERASED = '[erased]';

export interface PersonalRef {
  readonly $pd: string;
}

export interface PersonalItem {
  readonly id: string;
  readonly account_id: string;
  readonly record_id: string | null;
  readonly kind: PersonalKind;
  readonly value: string;
}

export const isPersonalRef = (v: unknown): v is PersonalRef =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { $pd?: unknown }).$pd === 'string' && Object.keys(v).length === 1;

/**
 * Whether a key's value in this event is personal. A `reason` the system wrote (a billing error,
 * "the account has no contact") is machine text, kept in the chain as it is.
 */
const personalKind = (draft: AuditEventDraft, key: string): PersonalKind | null => {
  const kind = PERSONAL_KEYS[key];
  if (!kind) return null;
  if (key === 'reason' && draft.actor.role === 'system') return null;
  return kind;
};

/**
 * The draft with its personal values replaced by references, and the values to store. Nested
 * objects are walked (a requester `{email, name}`, `details.retention_offer.offer`); a personal
 * key holding an object has its string leaves moved.
 */
export function separatePersonalData(draft: AuditEventDraft, newId: () => string): { draft: AuditEventDraft; items: PersonalItem[] } {
  const items: PersonalItem[] = [];
  const store = (kind: PersonalKind, value: string): PersonalRef => {
    const id = newId();
    items.push({ id, account_id: draft.account_id, record_id: draft.record_id, kind, value });
    return { $pd: id };
  };
  const move = (value: unknown, kind: PersonalKind): unknown => {
    if (typeof value === 'string') return value === '' ? value : store(kind, value);
    if (Array.isArray(value)) return value.map((v) => move(v, kind));
    if (value && typeof value === 'object' && !isPersonalRef(value))
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, move(v, PERSONAL_KEYS[k] ?? kind)]));
    return value;
  };
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (!value || typeof value !== 'object' || isPersonalRef(value)) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const kind = personalKind(draft, k);
      out[k] = kind ? move(v, kind) : walk(v);
    }
    return out;
  };
  const data = walk(draft.data) as Record<string, unknown>;
  return items.length ? { draft: { ...draft, data }, items } : { draft, items };
}

/** `value` with every reference replaced by what `lookup` gives for it (the value, or ERASED). */
export function resolvePersonalData<T>(value: T, lookup: (id: string) => string): T {
  const walk = (v: unknown): unknown => {
    if (isPersonalRef(v)) return lookup(v.$pd);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/** Every reference id in a value. */
export function personalRefs(value: unknown, out: Set<string> = new Set()): Set<string> {
  if (isPersonalRef(value)) out.add(value.$pd);
  else if (Array.isArray(value)) for (const v of value) personalRefs(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) personalRefs(v, out);
  return out;
}

/**
 * A copy of `value` with the string values under personal keys replaced by ERASED (a record's
 * details and problems, when its account is erased). Keys and structure stay.
 */
export function eraseFreeText<T>(value: T): T {
  const blank = (v: unknown): unknown =>
    typeof v === 'string'
      ? v === ''
        ? v
        : ERASED
      : Array.isArray(v)
        ? v.map(blank)
        : v && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, blank(x)]))
          : v;
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (!v || typeof v !== 'object') return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, PERSONAL_KEYS[k] || k === 'message' ? blank(x) : walk(x)]));
  };
  return walk(value) as T;
}
