import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../records/errors';
import type { Kind, LifecycleRecord } from '../records/kinds';
import type { Policy } from '../records/policy';
import type { AppDeps } from './deps';
import { transitionIn } from './transition-record';

/**
 * Customer links: a scheduled change's email carries a signed URL where the customer sees the
 * change's status and, when the policy allows, cancels it, until its effective instant. The token
 * names the record and that instant and is signed with CUSTOMER_LINK_SECRET (HMAC-SHA256): it
 * cannot be forged or stretched, and it carries no personal data.
 */

/** Kinds a customer may cancel through their link when the policy does not say. */
export const DEFAULT_CUSTOMER_CANCEL_KINDS: readonly Kind[] = ['downgrade', 'upgrade', 'termination'];

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class CustomerLinks {
  private readonly key: Buffer;
  private readonly base: string;

  /** `secret`: CUSTOMER_LINK_SECRET; `baseUrl`: PUBLIC_BASE_URL, where customers reach the service. */
  constructor(secret: string, baseUrl: string) {
    this.key = createHmac('sha256', secret).update('lifecycle-desk customer link key v1').digest();
    this.base = baseUrl.replace(/\/+$/, '');
  }

  /** The token for a record scheduled for `effective_at`; null when it has no instant (nothing to link to). */
  tokenFor(record: Pick<LifecycleRecord, 'id' | 'effective_at'>): string | null {
    if (!record.effective_at) return null;
    const exp = Math.floor(Date.parse(record.effective_at) / 1000);
    return `${record.id}.${exp}.${this.mac(record.id, exp)}`;
  }

  urlFor(record: Pick<LifecycleRecord, 'id' | 'effective_at'>): string | null {
    const token = this.tokenFor(record);
    return token ? `${this.base}/customer/changes/${token}` : null;
  }

  /** What a token says, or null when it was not signed with this key (tampered, truncated, made up). */
  open(token: string): { recordId: string; expiresAt: Date } | null {
    const [id, exp, mac, extra] = token.split('.');
    if (!id || !exp || !mac || extra !== undefined || !ID.test(id) || !/^\d{1,12}$/.test(exp)) return null;
    const expected = Buffer.from(this.mac(id, Number(exp)), 'base64url');
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    return { recordId: id, expiresAt: new Date(Number(exp) * 1000) };
  }

  private mac(id: string, exp: number): string {
    return createHmac('sha256', this.key).update(`customer-link:${id}:${exp}`).digest('base64url');
  }
}

export interface CustomerLinkDeps extends Pick<AppDeps, 'store' | 'clock'> {
  readonly links: CustomerLinks;
  readonly policy: Pick<Policy, 'customer_may_cancel'>;
}

/** What the customer's page shows. */
export interface CustomerChangeView {
  readonly record: LifecycleRecord;
  readonly accountName: string;
  /** Whether the page offers to cancel: still scheduled, and the policy lets customers cancel this kind. */
  readonly canCancel: boolean;
  readonly token: string;
}

const refused = () => new AppError('forbidden', 'This link is not valid. Use the link in your email exactly as it was sent, or contact support.');
const gone = (at: Date) =>
  Object.assign(
    new AppError(
      'illegal_transition',
      `This change took effect on ${at.toISOString().slice(0, 10)}; the link no longer works. Contact support if something is wrong.`,
    ),
    { gone: true as const },
  );

/** A token's record, checked: 403 when the token is not ours, "gone" once its instant has passed. */
async function opened(deps: CustomerLinkDeps, token: string, now: Date): Promise<{ recordId: string }> {
  const t = deps.links.open(token);
  if (!t) throw refused();
  if (now >= t.expiresAt) throw gone(t.expiresAt);
  return t;
}

export const isGone = (err: unknown): boolean => (err as { gone?: unknown })?.gone === true;

const mayCancel = (deps: CustomerLinkDeps, record: LifecycleRecord, now: Date) =>
  record.state === 'scheduled' &&
  !!record.effective_at &&
  now < new Date(record.effective_at) &&
  (deps.policy.customer_may_cancel ?? DEFAULT_CUSTOMER_CANCEL_KINDS).includes(record.kind);

export async function viewCustomerChange(deps: CustomerLinkDeps, token: string): Promise<CustomerChangeView> {
  const now = deps.clock.now();
  const { recordId } = await opened(deps, token, now);
  return deps.store.transaction(async (uow) => {
    const record = await uow.records.get(recordId);
    if (!record) throw refused();
    if (record.effective_at && now >= new Date(record.effective_at)) throw gone(new Date(record.effective_at));
    const account = await uow.accounts.get(record.account_id);
    return { record, accountName: account?.name ?? record.account_id, canCancel: mayCancel(deps, record, now), token };
  });
}

/**
 * The customer cancels through their link: the record moves to cancelled with the customer as
 * the actor (`account:<id>`, through `customer_link`), which tells billing to undo what it had
 * scheduled and emails the customer. Repeating it (a double submit) shows the cancelled change.
 */
export async function cancelCustomerChange(deps: CustomerLinkDeps, token: string): Promise<CustomerChangeView> {
  const now = deps.clock.now();
  const { recordId } = await opened(deps, token, now);
  return deps.store.transaction(async (uow) => {
    const current = await uow.records.getForUpdate(recordId);
    if (!current) throw refused();
    if (current.effective_at && now >= new Date(current.effective_at)) throw gone(new Date(current.effective_at));
    const account = await uow.accounts.get(current.account_id);
    const view = (record: LifecycleRecord): CustomerChangeView => ({ record, accountName: account?.name ?? record.account_id, canCancel: false, token });
    if (current.state === 'cancelled') return view(current);
    if (!mayCancel(deps, current, now)) {
      throw new AppError(
        'forbidden',
        current.state === 'scheduled'
          ? 'This change cannot be cancelled online. Reply to your email or contact support to change it.'
          : `This change is ${current.state.replace('_', ' ')} and can no longer be cancelled here.`,
      );
    }
    const { record } = await transitionIn(uow, now, {
      recordId,
      event: 'cancel',
      actor: { role: 'customer', id: `account:${current.account_id}` },
      expectedVersion: current.version,
      reason: 'Cancelled by the customer through the link in their email',
      data: { via: 'customer_link' },
    });
    return view(record);
  });
}
