import { z } from 'zod';
import { AppError } from './errors';
import { describeProblems, problemsFromZod } from './problems';

/**
 * Disputes and their resolutions, pure. A dispute names its reason and the documents behind it;
 * documents are references (a Zendesk attachment id, or an https URL where the document lives),
 * never the document itself: the audit trail is hash-chained and kept for years, and a customer's
 * papers do not belong in it. A resolution names its outcome and why.
 */

export const RESOLUTION_OUTCOMES = ['upheld', 'adjusted', 'reversed'] as const;
export type ResolutionOutcome = (typeof RESOLUTION_OUTCOMES)[number];

/** What each outcome means, for the Slack modal, the sidebar and the README. */
export const RESOLUTION_LABELS: Readonly<Record<ResolutionOutcome, string>> = {
  upheld: 'Upheld: the change stands as it was made',
  adjusted: 'Adjusted: the change stands, corrected as described in the reason',
  reversed: 'Reversed: the change is undone (a reversal record is filed for approval)',
};

export const REASON_MAX = 2000;
export const DOCUMENTS_MAX = 20;

const reason = z
  .string({ error: 'reason is required' })
  .trim()
  .min(1, 'reason is required: say why, in words the customer and the team can read')
  .max(REASON_MAX, `reason is too long (max ${REASON_MAX} characters)`);

/** Zendesk attachment ids are positive integers (given as a number or digits). */
const AttachmentRef = z
  .object({
    zendesk_attachment_id: z
      .union([
        z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
        z.string().regex(/^[1-9][0-9]{0,18}$/, 'expected the digits of a Zendesk attachment id'),
      ])
      .transform(String),
  })
  .strict();

/** A link to where the document is kept; only https (no data: or javascript: URLs, no inline content). */
const UrlRef = z
  .object({
    url: z
      .string()
      .trim()
      .max(2000, 'url is too long (max 2000 characters)')
      .refine((u) => {
        try {
          const p = new URL(u);
          return p.protocol === 'https:' && !!p.hostname && !p.username && !p.password;
        } catch {
          return false;
        }
      }, 'expected an https URL without credentials, pointing to where the document is kept (documents are never uploaded here)'),
  })
  .strict();

export const DisputeDocumentSchema = z.union([AttachmentRef, UrlRef], {
  error: 'expected { "zendesk_attachment_id": "123" } or { "url": "https://…" }; documents are referenced, never sent inline',
});
export type DisputeDocument = { readonly zendesk_attachment_id: string } | { readonly url: string };

export const DisputeInputSchema = z
  .object({
    reason,
    documents: z.array(DisputeDocumentSchema).max(DOCUMENTS_MAX, `at most ${DOCUMENTS_MAX} documents`).default([]),
  })
  .strict();
export type DisputeInput = z.infer<typeof DisputeInputSchema>;

export const ResolutionInputSchema = z
  .object({
    reason,
    outcome: z.enum(RESOLUTION_OUTCOMES, { error: `outcome: expected one of ${RESOLUTION_OUTCOMES.join(', ')}` }),
  })
  .strict();
export type ResolutionInput = z.infer<typeof ResolutionInputSchema>;

/** Parses a dispute (reason and document references) or throws a 422-style AppError naming each problem. */
export function parseDispute(input: unknown): DisputeInput {
  const r = DisputeInputSchema.safeParse(input);
  if (!r.success) {
    const problems = problemsFromZod(r.error);
    throw new AppError('validation_failed', `Invalid dispute: ${describeProblems(problems)}`, { problems });
  }
  return r.data;
}

export function parseResolution(input: unknown): ResolutionInput {
  const r = ResolutionInputSchema.safeParse(input);
  if (!r.success) {
    const problems = problemsFromZod(r.error);
    throw new AppError('validation_failed', `Invalid resolution: ${describeProblems(problems)}`, { problems });
  }
  return r.data;
}

/** The link an agent can open for a document reference (Zendesk attachments live under the ticket's instance). */
export function documentLabel(d: DisputeDocument): string {
  return 'url' in d ? d.url : `Zendesk attachment ${d.zendesk_attachment_id}`;
}
