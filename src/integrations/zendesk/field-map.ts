import { z } from 'zod';
import { AppError } from '../../records/errors';
import { formatPath } from '../../records/catalog';

/**
 * Which Zendesk ticket fields carry a lifecycle request (ZENDESK_FIELD_MAP_FILE). Field ids are
 * the numeric ids of custom ticket fields (Admin Center → Objects and rules → Ticket fields).
 * Dropdown values are Zendesk "tags"; `values` translates them, and unmapped values are used
 * as they are after removing `value_prefix` (so a dropdown value `lc_downgrade` means `downgrade`).
 */
const fieldId = z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)]);

export const FIELD_NAMES = [
  'kind',
  'subtype',
  'account_id',
  'reason_code',
  'reason_text',
  'effective',
  'effective_date',
  'from_plan',
  'to_plan',
  'to_support_tier',
  'features',
  'amount',
  'currency',
  'period_start',
  'period_end',
  'measured_uptime_percent',
  'incident_reference',
  'merge_target_account_id',
  'suspension_cause',
  'review_date',
  'termination_date',
  'notice_period_days',
  'fee_waived',
  'retention_offer',
  'retention_outcome',
  'feedback',
  'data_retention_until',
] as const;
export type FieldName = (typeof FIELD_NAMES)[number];

export const FieldMapSchema = z
  .object({
    _comment: z.unknown().optional(),
    /** A ticket is a lifecycle request when it has one of these tags, or a value in the kind field. */
    request_tags: z.array(z.string().min(1)).default(['lifecycle_request']),
    value_prefix: z.string().default('lc_'),
    /**
     * A drop-down's own prefix, stripped before `value_prefix` (the reason drop-down's `lc_reason_`:
     * its codes would otherwise clash with other drop-downs' tags, which Zendesk wants unique).
     */
    field_prefixes: z.partialRecord(z.enum(FIELD_NAMES), z.string().min(1)).default({}),
    fields: z.partialRecord(z.enum(FIELD_NAMES), fieldId),
    /** Human labels for notes ("Target plan"); defaults to the field name. */
    labels: z.partialRecord(z.enum(FIELD_NAMES), z.string().min(1).max(100)).default({}),
    values: z.partialRecord(z.enum(FIELD_NAMES), z.record(z.string(), z.string())).default({}),
  })
  .strict()
  .superRefine((m, ctx) => {
    for (const required of ['kind', 'account_id'] as const) {
      if (m.fields[required] === undefined) ctx.addIssue({ code: 'custom', path: ['fields', required], message: `the ${required} field id is required` });
    }
    const seen = new Map<number, string>();
    for (const [name, id] of Object.entries(m.fields)) {
      const other = seen.get(id as number);
      if (other) ctx.addIssue({ code: 'custom', path: ['fields', name], message: `field id ${String(id)} is also used for ${other}` });
      seen.set(id as number, name);
    }
  });

export type FieldMap = z.infer<typeof FieldMapSchema>;

export function parseFieldMap(json: unknown, source: string): FieldMap {
  const r = FieldMapSchema.safeParse(json);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => ({ field: formatPath(i.path), message: i.message }));
  throw new AppError('field_map_invalid', `${source}: invalid Zendesk field map:\n${problems.map((p) => `  - ${p.field}: ${p.message}`).join('\n')}`, {
    problems,
  });
}

/** "Target plan (field 360001000008)" for notes agents read. */
export function fieldLabel(map: FieldMap, name: FieldName): string {
  const id = map.fields[name];
  const label = map.labels[name] ?? name.replace(/_/g, ' ');
  return id === undefined ? label : `${label} (field ${id})`;
}
