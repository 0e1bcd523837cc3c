import { z } from 'zod';
import type { MappedTicket } from '../../app/ingest-ticket';
import type { Problem } from '../../records/errors';
import { FIELD_NAMES, fieldLabel } from './field-map';
import type { FieldMap, FieldName } from './field-map';
import { mapTicket } from './zendesk.mapper';

/**
 * The sidebar's request form: one input per ticket field of the field map, holding what the
 * ticket field would hold. The service turns it into a request with the same mapper a ticket
 * delivery goes through, so the sidebar and a webhook agree on what a ticket asks for and on the
 * problems, each named after the ticket field it concerns.
 */

const FieldValue = z.union([z.string().max(5000), z.number(), z.boolean(), z.array(z.string().max(200)).max(100), z.null()]);

export const ZafFormSchema = z
  .object({
    fields: z.partialRecord(z.enum(FIELD_NAMES), FieldValue).default({}),
    ticket: z
      .object({
        subject: z.string().max(500).nullable().optional(),
        requester: z
          .object({ email: z.string().max(320), name: z.string().max(200).optional() })
          .strict()
          .nullable()
          .optional(),
      })
      .strict()
      .default({}),
  })
  .strict();
export type ZafForm = z.infer<typeof ZafFormSchema>;

/** The form as a request and the values that could not be read (problems naming their ticket field). */
export function requestFromForm(form: ZafForm, map: FieldMap, ticketId: string | null): { request: Record<string, unknown>; problems: Problem[] } {
  const fields = new Map<string, string | number | boolean | readonly string[] | null>();
  for (const [name, value] of Object.entries(form.fields)) {
    const id = map.fields[name as FieldName];
    if (id !== undefined && value !== undefined) fields.set(String(id), value);
  }
  const requester = form.ticket.requester && /^[^\s@]+@[^\s@]+$/.test(form.ticket.requester.email) ? form.ticket.requester : null;
  const mapped: MappedTicket = mapTicket(
    {
      id: ticketId ?? 'new',
      updated_at: null,
      tags: map.request_tags.slice(0, 1),
      subject: form.ticket.subject ?? null,
      requester,
      assignee_email: null,
      fields,
    },
    map,
  );
  if (!mapped.relevant) return { request: {}, problems: [{ field: 'kind', message: 'choose the request type' }] };
  return { request: mapped.request, problems: [...mapped.mappingProblems] };
}

/** What the sidebar needs to know of the field map: which ticket fields, their labels, their dropdown values. */
export function clientFieldMap(map: FieldMap) {
  return {
    fields: FIELD_NAMES.filter((n) => map.fields[n] !== undefined).map((name) => ({
      name,
      id: map.fields[name]!,
      label: map.labels[name] ?? name.replace(/_/g, ' '),
      ticket_field: fieldLabel(map, name),
    })),
    value_prefix: map.value_prefix,
    values: map.values,
  };
}
