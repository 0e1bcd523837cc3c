import type { Proration } from './kinds';
import { money, roundHalfUp } from './money';
import type { Money } from './money';

/**
 * Proration to the second. Instants are floored to whole seconds, amounts are rounded half away
 * from zero to the currency's minor unit with BigInt, so no float ever touches money.
 */

/** Options of {@link prorate}. */
export interface ProrateInput {
  /** Price of the old plan for the whole period. */
  readonly oldPrice: Money;
  /** Price of the new plan for the whole period (same currency). */
  readonly newPrice: Money;
  readonly periodStart: Date;
  readonly periodEnd: Date;
  /** When the change happens; clamped into the period. */
  readonly changeAt: Date;
}

/**
 * Money convention: `credit` is ≤ 0 (unused old-plan time returned to the customer), `charge` is
 * ≥ 0 (new plan for the remaining time), `net` = credit + charge exactly (positive = customer pays).
 */
export interface ProrationAmounts {
  readonly credit: Money;
  readonly charge: Money;
  readonly net: Money;
}

/** Whole seconds since the epoch, floored; refuses invalid dates. */
export function epochSeconds(d: Date, what = 'date'): bigint {
  const ms = d.getTime();
  if (!Number.isFinite(ms)) throw new RangeError(`${what} is not a valid date`);
  return BigInt(Math.floor(ms / 1000));
}

const clamp = (v: bigint, lo: bigint, hi: bigint): bigint => (v < lo ? lo : v > hi ? hi : v);

function period(start: Date, end: Date): { s: bigint; e: bigint; total: bigint } {
  const s = epochSeconds(start, 'periodStart');
  const e = epochSeconds(end, 'periodEnd');
  if (e <= s) throw new RangeError(`period end ${end.toISOString()} must be after its start ${start.toISOString()} (by at least one second)`);
  return { s, e, total: e - s };
}

/**
 * Credit for the unused part of the old price and charge for the new price over the remaining
 * part of the period. The net is rounded once from the exact difference and the credit once from
 * the old price; the charge is derived (`net - credit`), so the three always add up with no
 * penny drift, and the charge is never more than one minor unit from its exact value.
 *
 * @throws RangeError on a currency mismatch or a period whose end is not after its start.
 */
export function prorate(input: ProrateInput): ProrationAmounts {
  const { oldPrice, newPrice } = input;
  if (oldPrice.currency !== newPrice.currency) {
    throw new RangeError(`currency mismatch: old price in ${oldPrice.currency}, new price in ${newPrice.currency}`);
  }
  const { e, total } = period(input.periodStart, input.periodEnd);
  const remaining = clamp(e - epochSeconds(input.changeAt, 'changeAt'), 0n, total);
  const oldMinor = BigInt(oldPrice.amount_minor);
  const newMinor = BigInt(newPrice.amount_minor);
  const net = roundHalfUp((newMinor - oldMinor) * remaining, total);
  const credit = -roundHalfUp(oldMinor * remaining, total) || 0;
  const charge = net - credit;
  const c = oldPrice.currency;
  return { credit: money(credit, c), charge: money(charge, c), net: money(net, c) };
}

const isoSecond = (d: Date): string => new Date(Number(epochSeconds(d)) * 1000).toISOString();

/**
 * {@link prorate} in the shape stored in record details (`kinds.ts` `Proration`), with the
 * instants as ISO strings floored to the second (the precision the amounts were computed at).
 */
export function toProrationRecord(input: ProrateInput, amounts: ProrationAmounts = prorate(input)): Proration {
  return {
    period_start: isoSecond(input.periodStart),
    period_end: isoSecond(input.periodEnd),
    change_at: isoSecond(input.changeAt),
    credit: amounts.credit,
    charge: amounts.charge,
    net: amounts.net,
  };
}

/**
 * What the customer paid for the part of `[affectedStart, affectedEnd)` that lies inside the
 * billing period `[periodStart, periodEnd)` priced at `price`: price × overlap / period, to the
 * second, half-up. A window outside the period costs nothing.
 *
 * @throws RangeError when the period or the window is empty or reversed.
 */
export function periodCharges(price: Money, periodStart: Date, periodEnd: Date, affectedStart: Date, affectedEnd: Date): Money {
  const { s, e, total } = period(periodStart, periodEnd);
  const as = epochSeconds(affectedStart, 'affectedStart');
  const ae = epochSeconds(affectedEnd, 'affectedEnd');
  if (ae < as) throw new RangeError('affected window ends before it starts');
  const overlap = clamp(ae, s, e) - clamp(as, s, e);
  return money(roundHalfUp(BigInt(price.amount_minor) * overlap, total), price.currency);
}

/**
 * Charge for `seconds` of a price that covers `periodSeconds`, half-up. For windows with no real
 * billing period to hand (see `NOMINAL_INTERVAL_SECONDS` in the catalog).
 */
export function chargeForSeconds(price: Money, seconds: number, periodSeconds: number): Money {
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError('seconds must be a non-negative integer');
  if (!Number.isSafeInteger(periodSeconds) || periodSeconds <= 0) throw new RangeError('periodSeconds must be a positive integer');
  return money(roundHalfUp(BigInt(price.amount_minor) * BigInt(seconds), BigInt(periodSeconds)), price.currency);
}
