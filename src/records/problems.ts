import type { z } from 'zod';
import type { Problem } from './errors';

/** A zod issue, or one as a Fastify schema-validation error carries it (fastify-type-provider-zod). */
export interface IssueLike {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  /** For `unrecognized_keys`. */
  readonly keys?: readonly string[];
}

/** Turns zod issues into problems an agent can act on ("details.to_plan is required"). */
export function problemsFromIssues(issues: readonly IssueLike[]): Problem[] {
  return issues.map((i) => {
    const field = i.path
      .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
      .join('.')
      .replace(/\.\[/g, '[');
    let message = i.message;
    if (i.code === 'invalid_type' && /received undefined/.test(i.message)) message = 'is required';
    else if (i.code === 'unrecognized_keys') message = `unknown field(s): ${(i.keys ?? []).join(', ')}`;
    return { field, message };
  });
}

export const problemsFromZod = (error: z.ZodError): Problem[] => problemsFromIssues(error.issues as readonly IssueLike[]);

export const describeProblems = (problems: readonly Problem[]): string => problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join('; ');
