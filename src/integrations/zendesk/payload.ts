import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../../records/errors';
import { problemsFromZod } from '../../records/problems';

/** A ticket as the mapper needs it, from a trigger body or from the Tickets API. */
export interface TicketSnapshot {
  readonly id: string;
  readonly updated_at: string | null;
  readonly tags: readonly string[];
  readonly subject: string | null;
  readonly requester: { readonly email: string; readonly name?: string } | null;
  readonly assignee_email: string | null;
  /** Custom field values by field id. Multi-selects are arrays; checkboxes booleans; unset null. */
  readonly fields: ReadonlyMap<string, string | number | boolean | readonly string[] | null>;
}

export interface ZendeskDelivery {
  /** Same for every retry of one delivery: the invocation id header, the event id, or a hash of the body. */
  readonly deliveryKey: string;
  readonly ticketId: string;
  readonly ticket: TicketSnapshot | null;
  /** Event webhooks carry no field values: the ticket must be read from the API. */
  readonly needsFetch: boolean;
  /** An event's `detail.tags` (the ticket's tags, dropdown values included), or null when it carries none. */
  readonly eventTags?: readonly string[] | null;
  readonly eventType: string;
}

const MAX_TEXT = 64 * 1024;
/** PostgreSQL refuses NUL in text and jsonb; other control characters are kept out of notes too. */
// eslint-disable-next-line no-control-regex -- removing control characters is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g;
const clean = (s: string): string => s.replace(CONTROL, '').slice(0, MAX_TEXT);
const text = z
  .string()
  .max(MAX_TEXT * 4, `longer than ${MAX_TEXT} characters`)
  .transform(clean);
const ticketId = z
  .union([z.string(), z.number()])
  .transform(String)
  .pipe(z.string().regex(/^\d{1,20}$/, 'expected a numeric Zendesk ticket id'));
/** Placeholders render to "" when unset. */
const optionalText = z
  .union([text, z.null()])
  .optional()
  .transform((v) => (v === undefined || v === null || v.trim() === '' ? null : v.trim()));

const FieldValue = z.union([text, z.number(), z.boolean(), z.null(), z.array(text).max(200)]);

/**
 * The body the Zendesk trigger sends (the README shows the JSON to paste into the trigger).
 * Placeholders always render as strings: tags space-separated, unset fields "".
 */
export const TriggerBodySchema = z
  .object({
    lifecycle_desk: z.literal(1, { error: 'expected "lifecycle_desk": 1 (see the README for the trigger body)' }),
    ticket: z
      .object({
        id: ticketId,
        updated_at: optionalText,
        tags: z.union([text, z.array(text).max(500)]).optional(),
        subject: optionalText,
        requester: z.object({ email: optionalText, name: optionalText }).optional(),
        assignee_email: optionalText,
        fields: z
          .record(z.string().regex(/^\d{1,20}$/, 'field keys must be numeric field ids'), FieldValue)
          .refine((f) => Object.keys(f).length <= 200, 'too many fields')
          .default({}),
      })
      .loose(),
  })
  .loose();

/** An event-subscribed webhook body (`zen:event-type:ticket.*`). */
export const EventBodySchema = z
  .object({
    type: z.string().startsWith('zen:event-type:ticket.', 'expected a ticket event (zen:event-type:ticket.*)'),
    id: z.string().min(1).max(200),
    detail: z.object({ id: ticketId, tags: z.array(z.string().max(200)).max(1000).nullish().catch(null) }).loose(),
    time: z.string().optional(),
  })
  .loose();

const emailOf = (s: string | null): string | null => (s && /^[^\s@]+@[^\s@]+$/.test(s) ? s.toLowerCase() : null);

function normalizeValue(v: z.infer<typeof FieldValue>): string | number | boolean | readonly string[] | null {
  if (typeof v === 'string') {
    const s = v.trim();
    return s === '' ? null : s;
  }
  return v;
}

const bodyHash = (body: unknown) => createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 32);

/**
 * Parses a verified webhook body. Throws AppError('unsupported_payload') naming what is wrong
 * for anything that is neither our trigger body nor a ticket event.
 */
export function parseZendeskDelivery(body: unknown, headers: { invocationId?: string | undefined }): ZendeskDelivery {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new AppError('unsupported_payload', 'Expected a JSON object: the trigger body from the README or a ticket event');
  }
  const invocation = headers.invocationId && /^[\w.-]{1,200}$/.test(headers.invocationId) ? headers.invocationId : null;
  if ('type' in body) {
    const r = EventBodySchema.safeParse(body);
    if (!r.success) throw new AppError('unsupported_payload', 'Unsupported Zendesk event', { problems: problemsFromZod(r.error) });
    const tags = r.data.detail.tags;
    return {
      deliveryKey: invocation ?? `event-${r.data.id}`,
      ticketId: r.data.detail.id,
      ticket: null,
      needsFetch: true,
      eventType: r.data.type,
      eventTags: Array.isArray(tags) ? tags.map((x) => x.trim()).filter(Boolean) : null,
    };
  }
  const r = TriggerBodySchema.safeParse(body);
  if (!r.success) throw new AppError('unsupported_payload', 'Unsupported Zendesk trigger body', { problems: problemsFromZod(r.error) });
  const t = r.data.ticket;
  const tags = (typeof t.tags === 'string' ? t.tags.split(/\s+/) : (t.tags ?? [])).map((x) => x.trim()).filter(Boolean);
  const email = emailOf(t.requester?.email ?? null);
  const fields = new Map<string, string | number | boolean | readonly string[] | null>();
  for (const [k, v] of Object.entries(t.fields)) fields.set(k, normalizeValue(v));
  const updated = t.updated_at && !Number.isNaN(Date.parse(t.updated_at)) ? new Date(t.updated_at).toISOString() : null;
  return {
    deliveryKey: invocation ?? `body-${bodyHash(body)}`,
    ticketId: t.id,
    ticket: {
      id: t.id,
      updated_at: updated,
      tags,
      subject: t.subject,
      requester: email ? { email, ...(t.requester?.name ? { name: t.requester.name } : {}) } : null,
      assignee_email: emailOf(t.assignee_email),
      fields,
    },
    needsFetch: false,
    eventType: 'trigger',
  };
}

/** A ticket from GET /api/v2/tickets/{id}.json?include=users (users sideloaded for the requester's email). */
export interface ApiTicket {
  readonly id: number;
  readonly updated_at?: string | null;
  readonly subject?: string | null;
  readonly tags?: readonly string[];
  readonly requester_id?: number | null;
  readonly assignee_id?: number | null;
  readonly custom_fields?: readonly { id: number; value: unknown }[];
}

export function ticketSnapshotFromApi(ticket: ApiTicket, users: readonly { id: number; email?: string | null; name?: string | null }[] = []): TicketSnapshot {
  const user = (id: number | null | undefined) => (id == null ? undefined : users.find((u) => u.id === id));
  const requester = user(ticket.requester_id);
  const fields = new Map<string, string | number | boolean | readonly string[] | null>();
  for (const f of ticket.custom_fields ?? []) {
    const v = f.value;
    fields.set(
      String(f.id),
      typeof v === 'string'
        ? v.trim() === ''
          ? null
          : clean(v.trim())
        : typeof v === 'number' || typeof v === 'boolean'
          ? v
          : Array.isArray(v)
            ? v.filter((x): x is string => typeof x === 'string').map(clean)
            : null,
    );
  }
  const email = emailOf(requester?.email ?? null);
  return {
    id: String(ticket.id),
    updated_at: ticket.updated_at ?? null,
    tags: [...(ticket.tags ?? [])],
    subject: ticket.subject ? clean(ticket.subject) : null,
    requester: email ? { email, ...(requester?.name ? { name: clean(requester.name) } : {}) } : null,
    assignee_email: emailOf(user(ticket.assignee_id)?.email ?? null),
    fields,
  };
}
