import type { z } from 'zod';
import type { Problem } from './errors';

/** Turns zod issues into problems an agent can act on ("details.to_plan is required"). */
export function problemsFromZod(error: z.ZodError): Problem[] {
  return error.issues.map((i) => {
    const field = i.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
    let message = i.message;
    if (i.code === 'invalid_type' && /received undefined/.test(i.message)) message = 'is required';
    else if (i.code === 'unrecognized_keys') message = `unknown field(s): ${i.keys.join(', ')}`;
    return { field, message };
  });
}

export const describeProblems = (problems: readonly Problem[]): string =>
  problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join('; ');
