import { findPlan, planPrice } from '../catalog';
import type { Catalog } from '../catalog';
import { roundHalfUp } from '../money';

/** Monthly recurring revenue of a plan in a currency (yearly prices ÷ 12, half-up). */
export function monthlyPrice(catalog: Catalog, planId: string, currency: string): number | null {
  const plan = findPlan(catalog, planId);
  const price = plan && planPrice(plan, currency);
  if (!plan || !price) return null;
  return plan.interval === 'year' ? roundHalfUp(BigInt(price.amount_minor), 12n) : price.amount_minor;
}
