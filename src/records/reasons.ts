import { z } from 'zod';
import { formatPath } from './catalog';
import { AppError } from './errors';
import type { Problem } from './errors';
import { KINDS, SUBTYPES } from './kinds';
import type { Kind } from './kinds';

/**
 * The reason taxonomy (REASONS_FILE): which reason codes a record of each kind (and subtype) may
 * carry, with the label people read. Codes are what reports group by and what the ticket is
 * tagged with (`lifecycle_reason_<code>`), so they are short snake_case words Zendesk accepts as
 * tags. Parsed once at start-up; an unknown code on a request keeps it a draft.
 */

/** Zendesk tags are lowercase words without spaces; a code becomes one, so it must be one. */
export const REASON_CODE_PATTERN = /^[a-z][a-z0-9_]{0,39}$/;

const code = z.string().regex(REASON_CODE_PATTERN, 'expected a code of lowercase letters, digits and _ (at most 40, starting with a letter)');
const codes = z
  .record(code, z.string().trim().min(1, 'a label is required').max(100, 'label too long (max 100)'))
  .refine((m) => Object.keys(m).length > 0, 'list at least one code');

const KindReasonsSchema = z
  .object({
    _comment: z.unknown().optional(),
    /** Codes every subtype of the kind may use: `{ "price": "Price too high" }`. */
    codes,
    /** Further codes for one subtype only (added to the kind's). */
    subtypes: z.record(z.string(), codes).default({}),
  })
  .strict();

const ReasonsFileSchema = z
  .object({
    _comment: z.unknown().optional(),
    ...(Object.fromEntries(KINDS.map((k) => [k, KindReasonsSchema])) as Record<Kind, typeof KindReasonsSchema>),
  })
  .strict()
  .superRefine((file, ctx) => {
    for (const kind of KINDS) {
      const entry = file[kind];
      const known: readonly string[] = SUBTYPES[kind];
      for (const [subtype, extra] of Object.entries(entry.subtypes)) {
        if (!known.includes(subtype)) {
          ctx.addIssue({ code: 'custom', path: [kind, 'subtypes', subtype], message: `unknown ${kind} subtype; expected one of: ${known.join(', ')}` });
        }
        for (const c of Object.keys(extra)) {
          if (c in entry.codes)
            ctx.addIssue({ code: 'custom', path: [kind, 'subtypes', subtype, c], message: `already a code of every ${kind}; list it once` });
        }
      }
    }
  });

/** A missing kind or a bad key reads better than zod's defaults ("Invalid key in record"). */
function messageOf(i: z.core.$ZodIssue): string {
  if (i.code === 'invalid_key') return i.issues[0]?.message ?? i.message;
  if (i.code === 'invalid_type' && i.path.length === 1) return 'is required: list the reasons of this kind';
  return i.message;
}

export interface ReasonOption {
  readonly code: string;
  readonly label: string;
}

export interface ReasonTaxonomy {
  readonly kinds: Readonly<
    Record<Kind, { readonly codes: Readonly<Record<string, string>>; readonly subtypes: Readonly<Record<string, Readonly<Record<string, string>>>> }>
  >;
}

/** Parses the reasons file; throws listing every problem (path and what is expected). */
export function parseReasons(json: unknown, source: string): ReasonTaxonomy {
  const r = ReasonsFileSchema.safeParse(json);
  if (!r.success) {
    const problems = r.error.issues.map((i) => ({ field: formatPath(i.path), message: messageOf(i) }));
    throw new AppError('validation_failed', `${source}: invalid reason taxonomy:\n${problems.map((p) => `  - ${p.field}: ${p.message}`).join('\n')}`, {
      problems,
    });
  }
  const kinds = Object.fromEntries(KINDS.map((k) => [k, { codes: r.data[k].codes, subtypes: r.data[k].subtypes }])) as ReasonTaxonomy['kinds'];
  return { kinds };
}

/** The codes a record of this kind and subtype may carry, in file order (the kind's, then the subtype's). */
export function allowedReasons(t: ReasonTaxonomy, kind: Kind, subtype: string | null): ReasonOption[] {
  const entry = t.kinds[kind];
  const extra = subtype ? (entry.subtypes[subtype] ?? {}) : {};
  return [...Object.entries(entry.codes), ...Object.entries(extra)].map(([c, label]) => ({ code: c, label }));
}

const list = (options: readonly ReasonOption[]) => options.map((o) => o.code).join(', ');

/**
 * The problem with a request's reason code, or null when it is allowed. A kind that is not one
 * of ours is left to the request schema to name.
 */
export function reasonProblem(t: ReasonTaxonomy, kind: unknown, subtype: unknown, reasonCode: unknown): Problem | null {
  if (!KINDS.includes(kind as Kind)) return null;
  const k = kind as Kind;
  const st = typeof subtype === 'string' && (SUBTYPES[k] as readonly string[]).includes(subtype) ? subtype : null;
  const options = allowedReasons(t, k, st);
  const what = `a ${k.replace('_', ' ')}${st ? ` (${st})` : ''}`;
  if (typeof reasonCode !== 'string' || reasonCode.trim() === '')
    return { field: 'reason_code', message: `is required; for ${what} expected one of: ${list(options)}` };
  if (options.some((o) => o.code === reasonCode)) return null;
  return { field: 'reason_code', message: `"${reasonCode.slice(0, 60)}" is not a reason for ${what}; expected one of: ${list(options)}` };
}

/** Every code of the taxonomy, once each (for tags to take off a ticket, and for reports). */
export function allReasonCodes(t: ReasonTaxonomy): string[] {
  const out = new Set<string>();
  for (const kind of KINDS) {
    for (const c of Object.keys(t.kinds[kind].codes)) out.add(c);
    for (const extra of Object.values(t.kinds[kind].subtypes)) for (const c of Object.keys(extra)) out.add(c);
  }
  return [...out];
}

/** The label of a code (the first kind that lists it), or the code itself when none does. */
export function reasonLabel(t: ReasonTaxonomy | null | undefined, reasonCode: string): string {
  if (!t) return reasonCode;
  for (const kind of KINDS) {
    const entry = t.kinds[kind];
    if (entry.codes[reasonCode]) return entry.codes[reasonCode]!;
    for (const extra of Object.values(entry.subtypes)) if (extra[reasonCode]) return extra[reasonCode]!;
  }
  return reasonCode;
}

/**
 * The options of the Zendesk "Reason" drop-down that matches the taxonomy: one per code, its tag
 * `<prefix><code>` (the field map strips the prefix). Zendesk wants option tags unique across
 * all drop-downs, so the reason field gets a prefix of its own.
 */
export function zendeskReasonOptions(t: ReasonTaxonomy, prefix: string): { name: string; value: string }[] {
  return allReasonCodes(t).map((c) => ({ name: reasonLabel(t, c), value: `${prefix}${c}` }));
}
