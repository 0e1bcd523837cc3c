import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Problem } from '../../records/errors';
import { findUnstorableText, findYearZeroDate } from '../../http/input-guards';
import type { TicketIntake } from '../../app/ingest-ticket';
import type { ZendeskInbound } from '../../http/zendesk.routes';
import { FIELD_NAMES, fieldLabel } from './field-map';
import type { FieldMap, FieldName } from './field-map';
import { parseZendeskDelivery } from './payload';
import type { ZendeskDelivery } from './payload';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyZendeskSignature } from './signature';
import { mapTicket, mayBeRequest } from './zendesk.mapper';

const header = (h: FastifyRequest['headers'], name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

export function intakeOf(delivery: ZendeskDelivery, map: FieldMap, signedKey?: string): TicketIntake {
  // An event names the ticket's tags: when none of them can mark a request, reading the ticket
  // through the API (rate-limited) would only find that out again.
  const skip = !delivery.ticket && delivery.eventTags && !mayBeRequest(delivery.eventTags, map);
  return {
    source: 'zendesk',
    deliveryKey: delivery.deliveryKey,
    ...(signedKey ? { signedKey } : {}),
    ticketId: delivery.ticketId,
    ticketUpdatedAt: delivery.ticket?.updated_at ?? null,
    mapped: delivery.ticket ? mapTicket(delivery.ticket, map) : skip ? { relevant: false, why: "the event's tags show no lifecycle request" } : null,
  };
}

/** Signature check + parse + map for POST /webhooks/zendesk. */
export function zendeskInbound(secrets: readonly string[], map: FieldMap): ZendeskInbound {
  return {
    verify(rawBody, headers, now) {
      const r = verifyZendeskSignature({
        rawBody,
        signature: header(headers, SIGNATURE_HEADER),
        timestamp: header(headers, TIMESTAMP_HEADER),
        secrets,
        now,
      });
      return r.ok ? null : r.reason;
    },
    toIntake(body, headers, rawBody) {
      const delivery = parseZendeskDelivery(body, { invocationId: header(headers, 'x-zendesk-webhook-invocation-id') });
      return intakeOf(delivery, map, signedDeliveryKey(header(headers, TIMESTAMP_HEADER) ?? '', rawBody));
    },
    unfileable(body, intake) {
      return unfileableProblems(body, intake, map);
    },
  };
}

/**
 * What the signature covers (timestamp and body), hashed: the same signed delivery sent again
 * under a new invocation id (an unsigned header) has the same key and counts as a replay.
 */
export const signedDeliveryKey = (timestamp: string, rawBody: Buffer): string =>
  createHash('sha256').update(timestamp).update('\n').update(rawBody).digest('hex');

/** `ticket.fields.<id>` → the request field the map reads from it (so the note names the ticket field). */
function requestPathOf(bodyPath: string, map: FieldMap): string {
  const m = /^ticket\.fields\.(\d+)/.exec(bodyPath);
  if (!m) return bodyPath;
  const name = FIELD_NAMES.find((n) => map.fields[n] !== undefined && String(map.fields[n]) === m[1]);
  return name ?? bodyPath;
}

/**
 * Values a delivery carries that cannot become part of a record at all: text the database cannot
 * store (a lone UTF-16 surrogate) anywhere in the body, or a date in year 0000 in the mapped
 * request. Such a delivery is refused (422) with nothing stored, and the agent gets a note.
 */
export function unfileableProblems(body: unknown, intake: TicketIntake, map: FieldMap): Problem[] | null {
  // NUL characters are not here: the payload parser strips control characters from every text.
  const text = findUnstorableText(body, '', { allowNul: true });
  if (text) return [{ field: requestPathOf(text.field, map), message: text.message }];
  if (intake.mapped?.relevant) {
    const date = findYearZeroDate(intake.mapped.request);
    if (date) return [{ field: date.field, message: date.message }];
  }
  return null;
}

/** Request paths in problems ("details.to_plan") → the ticket field an agent edits ("Target plan (field 360…)"). */
export function problemLabels(map: FieldMap): Record<string, string> {
  return Object.fromEntries(Object.entries(problemFields(map)).map(([path, f]) => [path, f.label]));
}

/**
 * Request paths in problems, and the labels mapping problems name, → the ticket field: its label
 * and its field-map name (where the sidebar's form shows the problem).
 */
export function problemFields(map: FieldMap): Record<string, { label: string; name: FieldName }> {
  const pathOf: Partial<Record<FieldName, string[]>> = {
    kind: ['kind'],
    subtype: ['subtype'],
    account_id: ['account_id'],
    reason_code: ['reason_code'],
    reason_text: ['reason_text'],
    effective: ['effective'],
    to_plan: ['details.to_plan'],
    from_plan: ['details.from_plan'],
    to_support_tier: ['details.to_support_tier'],
    features: ['details.features'],
    amount: ['details.requested_credit', 'details.requested_credit.amount_minor'],
    currency: ['details.requested_credit.currency'],
    period_start: ['details.period_start'],
    period_end: ['details.period_end'],
    measured_uptime_percent: ['details.measured_uptime_percent'],
    incident_reference: ['details.incident_reference'],
    merge_target_account_id: ['details.merge', 'details.merge.target_account_id'],
    suspension_cause: ['details.suspension', 'details.suspension.cause'],
    review_date: ['details.suspension.review_date'],
    termination_date: ['details.termination_date'],
    fee_waived: ['details.fee_waived'],
    data_retention_until: ['details.data_retention_until'],
  };
  const out: Record<string, { label: string; name: FieldName }> = {};
  for (const name of FIELD_NAMES) {
    if (map.fields[name] === undefined) continue;
    const label = fieldLabel(map, name);
    for (const p of [...(pathOf[name] ?? []), label]) out[p] = { label, name };
  }
  return out;
}
