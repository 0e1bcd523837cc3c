import type { MappedTicket } from '../../app/ingest-ticket';
import { REREQUEST_TAG, tagFor } from '../../app/ticket-view';
import { isKind, KIND_MODULES, KINDS } from '../../records/kinds';
import type { TicketFields } from '../../records/kinds/common';
import type { Problem } from '../../records/errors';
import { DATE_INPUT_HINT, parseDateInput, startOfNextDay } from '../../records/dates';
import type { DateInput } from '../../records/dates';
import { isCurrency, parseDecimal } from '../../records/money';
import { fieldLabel } from './field-map';
import type { FieldMap, FieldName } from './field-map';
import type { TicketSnapshot } from './payload';

/**
 * Whether a ticket with these tags may be a lifecycle request, for events that carry tags but no
 * field values. Zendesk adds a dropdown's selected value to the ticket's tags, so a request type
 * set in the kind field shows as a tag (`lc_upgrade`); a ticket that already has a record carries
 * `lifecycle_<kind>`. Errs towards yes: a wrong yes costs one API read, a wrong no a request.
 */
export function mayBeRequest(tags: readonly string[], map: FieldMap): boolean {
  const kinds: readonly string[] = KINDS;
  return tags.some((tag) => {
    if (map.request_tags.includes(tag) || KINDS.some((k) => tagFor.kind(k) === tag)) return true;
    const value = map.values.kind?.[tag] ?? (map.value_prefix && tag.startsWith(map.value_prefix) ? tag.slice(map.value_prefix.length) : tag);
    return kinds.includes(value);
  });
}

/**
 * Ticket → raw request (shaped like RecordRequestSchema's input). Pure. It converts types (a
 * decimal amount to minor units, dates to instants) but does not validate the request: the
 * use-case does that and turns problems into a draft. Conversions that fail are reported as
 * mapping problems naming the ticket field, so the agent knows exactly what to fix.
 */
export function mapTicket(ticket: TicketSnapshot, map: FieldMap): MappedTicket {
  const problems: Problem[] = [];
  const raw = (name: FieldName) => {
    const id = map.fields[name];
    return id === undefined ? null : (ticket.fields.get(String(id)) ?? null);
  };
  const str = (name: FieldName): string | undefined => {
    const v = raw(name);
    if (v === null || typeof v === 'boolean' || Array.isArray(v)) return undefined;
    const s = String(v).trim();
    if (!s) return undefined;
    const translated = map.values[name]?.[s];
    if (translated !== undefined) return translated;
    // The field's own prefix first, then the shared one (values set before the field had its own).
    for (const prefix of [map.field_prefixes[name], map.value_prefix]) if (prefix && s.startsWith(prefix)) return s.slice(prefix.length);
    return s;
  };
  const bad = (name: FieldName, message: string) => problems.push({ field: fieldLabel(map, name), message });
  const num = (name: FieldName): number | undefined => {
    const s = str(name);
    if (s === undefined) return undefined;
    const n = Number(s.replace(',', '.'));
    if (!Number.isFinite(n)) bad(name, `"${s}" is not a number`);
    return Number.isFinite(n) ? n : undefined;
  };
  const dateInput = (name: FieldName): DateInput | undefined => {
    const s = str(name);
    if (s === undefined) return undefined;
    const d = parseDateInput(s);
    if (!d) bad(name, `"${s}" is not ${DATE_INPUT_HINT}`);
    return d ?? undefined;
  };
  const date = (name: FieldName): string | undefined => dateInput(name)?.date;
  /** A date field as an instant: the start of that day, or (for inclusive period ends) the start of the next; a timestamp as it is. */
  const instant = (name: FieldName, endOfDay = false): string | undefined => {
    const d = dateInput(name);
    if (d === undefined) return undefined;
    return d.dateOnly && endOfDay ? startOfNextDay(d.date) : d.instant;
  };
  const bool = (name: FieldName): boolean | undefined => {
    const v = raw(name);
    return typeof v === 'boolean' ? v : v === 'true' ? true : v === 'false' ? false : undefined;
  };
  const list = (name: FieldName): string[] | undefined => {
    const v = raw(name);
    if (Array.isArray(v)) return v.map((x) => (map.value_prefix && x.startsWith(map.value_prefix) ? x.slice(map.value_prefix.length) : x));
    const s = str(name);
    return s ? s.split(/[\s,]+/).filter(Boolean) : undefined;
  };

  const kind = str('kind');
  const tagged = ticket.tags.some((t) => map.request_tags.includes(t));
  if (!kind && !tagged) return { relevant: false, why: 'no request type and none of the lifecycle request tags' };

  const accountId = str('account_id');
  const details: Record<string, unknown> = {};
  const put = (key: string, value: unknown) => {
    if (value !== undefined) details[key] = value;
  };
  const currency = str('currency')?.toUpperCase();
  const money = (): { amount_minor: number; currency: string } | undefined => {
    const s = str('amount');
    if (s === undefined) return undefined;
    if (!currency || !isCurrency(currency)) {
      bad('currency', currency ? `"${currency}" is not an ISO 4217 currency code` : 'is needed with the amount');
      return undefined;
    }
    try {
      return parseDecimal(s.replace(/\s/g, ''), currency);
    } catch (err) {
      bad('amount', `"${s}" is not an amount in ${currency}: ${(err as Error).message}`);
      return undefined;
    }
  };

  // What each kind reads from the ticket is the kind module's (src/records/kinds/<kind>.ts).
  if (isKind(kind)) {
    const fields: TicketFields = { str, num, date, instant, bool, list, money, accountId };
    for (const [key, value] of Object.entries(KIND_MODULES[kind].detailsFromTicket(fields))) put(key, value);
  }

  let effective: string | undefined = str('effective');
  if (effective === 'date') effective = date('effective_date');
  else if (effective === undefined) effective = date('effective_date');

  const request: Record<string, unknown> = {
    ...(kind ? { kind } : {}),
    ...(str('subtype') ? { subtype: str('subtype') } : {}),
    ...(accountId ? { account_id: accountId } : {}),
    requested_by: ticket.assignee_email ?? 'zendesk',
    ...(ticket.requester ? { requester: ticket.requester } : {}),
    ...(str('reason_code') ? { reason_code: str('reason_code') } : {}),
    reason_text: str('reason_text') ?? ticket.subject ?? '',
    ...(effective ? { effective } : {}),
    details,
  };
  return { relevant: true, request, mappingProblems: problems, rerequest: ticket.tags.includes(REREQUEST_TAG) };
}
