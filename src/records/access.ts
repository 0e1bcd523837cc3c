import type { ActorRole } from './actors';

/**
 * Who may do what (DESIGN.md "Identity and privacy"), as data: roles, actions, and for each action
 * the roles allowed to take it. Callers ask {@link can}; the Zendesk sidebar shows only the
 * actions its user can take and the service refuses the others with 403, from this one table.
 * Anything not listed is refused.
 */

export const ROLES = ['agent', 'supervisor', 'finance', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const ACTIONS = [
  'view_record',
  'preview_request',
  'file_request',
  'fix_draft',
  'cancel_record',
  'retry_record',
  'approve_record',
  'view_reports',
  'dispute_record',
  'resolve_record',
  'reverse_record',
  'answer_retention_offer',
] as const;
export type Action = (typeof ACTIONS)[number];

export interface Permission {
  readonly action: Action;
  readonly roles: readonly Role[];
  /** What the action is, for refusals and the README. */
  readonly description: string;
}

export const PERMISSIONS: readonly Permission[] = [
  { action: 'view_record', roles: ['agent', 'supervisor', 'finance', 'admin'], description: 'see a record, its audit trail, money and approvals' },
  { action: 'preview_request', roles: ['agent', 'supervisor', 'finance', 'admin'], description: 'check a request and compute its money without filing it' },
  { action: 'file_request', roles: ['agent', 'supervisor', 'admin'], description: 'file a request as a new record' },
  { action: 'fix_draft', roles: ['agent', 'supervisor', 'admin'], description: 'correct a draft and submit it' },
  { action: 'cancel_record', roles: ['agent', 'supervisor', 'admin'], description: 'withdraw a record waiting for approval or scheduled for later' },
  // Retrying sends the record to billing again: the people who own billing failures decide that.
  { action: 'retry_record', roles: ['supervisor', 'finance', 'admin'], description: 'send a failed record to billing again' },
  // The approval policy narrows this further (its approver ids and user groups, four-eyes).
  { action: 'approve_record', roles: ['supervisor', 'admin'], description: 'approve or reject a record waiting for approval' },
  {
    action: 'view_reports',
    roles: ['supervisor', 'finance', 'admin'],
    description: 'read the reports and the dashboard, and the records behind their numbers',
  },
  {
    action: 'dispute_record',
    roles: ['agent', 'supervisor', 'admin'],
    description: 'open a dispute on an applied or confirmed change, with its reason and documents by reference',
  },
  // A resolution may file a reversal (money back): supervisors decide it, as they decide approvals.
  { action: 'resolve_record', roles: ['supervisor', 'admin'], description: 'resolve a dispute: upheld, adjusted or reversed' },
  // A reversal is approved on its own (its policy rule), so filing one is like filing any request.
  { action: 'reverse_record', roles: ['agent', 'supervisor', 'admin'], description: 'file a reversal of a change that was made (approved on its own)' },
  // The agent talking to the customer records what they said; accepting withdraws the request.
  { action: 'answer_retention_offer', roles: ['agent', 'supervisor', 'admin'], description: "record the customer's answer to a retention offer" },
];

const index = new Map<Action, ReadonlySet<Role>>(PERMISSIONS.map((p) => [p.action, new Set(p.roles)]));

/** Whether `role` may take `action`. Unknown roles or actions are refused. */
export function can(role: Role | null | undefined, action: Action): boolean {
  return role !== null && role !== undefined && (index.get(action)?.has(role) ?? false);
}

/** Every action a role may take, in table order (what a UI offers). */
export const actionsOf = (role: Role): Action[] => ACTIONS.filter((a) => can(role, a));

export const rolesFor = (action: Action): readonly Role[] => PERMISSIONS.find((p) => p.action === action)?.roles ?? [];

/**
 * The lifecycle actor role a person of each role acts as (the state machine knows agents and
 * supervisors): finance staff act on records as agents do, admins as supervisors.
 */
export const ACTOR_ROLE: Readonly<Record<Role, ActorRole>> = {
  agent: 'agent',
  supervisor: 'supervisor',
  finance: 'agent',
  admin: 'supervisor',
};

/**
 * Filing and fixing a request is agent work whoever does it: the lifecycle lets only agents (and
 * the system) file and revise drafts, so supervisors and admins act as the filing agent there.
 */
const ACTOR_ROLE_FOR_ACTION: Partial<Record<Action, ActorRole>> = { file_request: 'agent', fix_draft: 'agent' };

/** The actor role recorded when `role` takes `action`. */
export const actorRoleFor = (role: Role, action: Action): ActorRole => ACTOR_ROLE_FOR_ACTION[action] ?? ACTOR_ROLE[role];

export const isRole = (v: unknown): v is Role => typeof v === 'string' && (ROLES as readonly string[]).includes(v);
