import { z } from 'zod';

export const ACTOR_ROLES = ['agent', 'supervisor', 'customer', 'system'] as const;
export type ActorRole = (typeof ACTOR_ROLES)[number];

/** Who did something. `id` is the agent's Zendesk id/email, the supervisor's Slack id, or a component name. */
export const ActorSchema = z
  .object({
    role: z.enum(ACTOR_ROLES),
    id: z.string().min(1).max(200),
    name: z.string().max(200).optional(),
  })
  .strict();
export type Actor = z.infer<typeof ActorSchema>;

export const systemActor = (component: string): Actor => ({ role: 'system', id: component });
