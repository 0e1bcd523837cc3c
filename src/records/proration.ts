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

/** Months in one billing interval of a plan. */
export const INTERVAL_MONTHS = { month: 1, year: 12 } as const;

/**
 * `anchor` moved by `months` calendar months (either way), keeping its time of day and its day of
 * the month where the month has it: from a 31 January anchor the periods start 28 (or 29)
 * February, 31 March, 30 April… Counted from the anchor each time, so short months do not drift.
 */
export function addMonths(anchor: Date, months: number): Date {
  const y = anchor.getUTCFullYear();
  const m = anchor.getUTCMonth() + months;
  const year = y + Math.floor(m / 12);
  const month = ((m % 12) + 12) % 12;
  const target = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0–99 as 1900–1999.
  target.setUTCFullYear(year, month, Math.min(anchor.getUTCDate(), daysInMonth(year, month)));
  target.setUTCHours(anchor.getUTCHours(), anchor.getUTCMinutes(), anchor.getUTCSeconds(), anchor.getUTCMilliseconds());
  return target;
}

const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const daysInMonth = (y: number, m: number) => (m === 1 ? (isLeap(y) ? 29 : 28) : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m]!);

/** A billing period `[start, end)`. */
export interface BillingPeriod {
  readonly start: Date;
  readonly end: Date;
}

/**
 * The billing period that contains `at`: periods are `intervalMonths` long and counted from
 * `anchor` (the account's term start) forwards and backwards, so a 12-month contract on a monthly
 * plan has twelve monthly periods, and time before the term falls in earlier ones.
 */
export function billingPeriodAt(anchor: Date, intervalMonths: number, at: Date): BillingPeriod {
  if (!Number.isSafeInteger(intervalMonths) || intervalMonths <= 0) throw new RangeError('intervalMonths must be a positive integer');
  epochSeconds(anchor, 'anchor');
  epochSeconds(at, 'at');
  const monthsApart = (at.getUTCFullYear() - anchor.getUTCFullYear()) * 12 + (at.getUTCMonth() - anchor.getUTCMonth());
  let k = Math.floor(monthsApart / intervalMonths);
  while (addMonths(anchor, k * intervalMonths) > at) k--;
  while (addMonths(anchor, (k + 1) * intervalMonths) <= at) k++;
  return { start: addMonths(anchor, k * intervalMonths), end: addMonths(anchor, (k + 1) * intervalMonths) };
}

const gcd = (a: bigint, b: bigint): bigint => {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
};

/**
 * What the customer paid for `[from, to)` at `price` per billing period (see
 * {@link billingPeriodAt}): in each period the price is spread over that period's own length, to
 * the second (a day of February costs more than a day of March), so a window never costs more
 * than the periods it touches. The shares are added exactly and rounded once, half-up.
 *
 * @throws RangeError when the window ends before it starts.
 */
export function chargesOverPeriods(price: Money, anchor: Date, intervalMonths: number, from: Date, to: Date): Money {
  const fs = epochSeconds(from, 'from');
  const ts = epochSeconds(to, 'to');
  if (ts < fs) throw new RangeError('the window ends before it starts');
  // Sum of overlap/length over the periods, as an exact fraction num/den.
  let num = 0n;
  let den = 1n;
  // Each next period is found from the anchor again: stepping from a clamped end (28 February)
  // would lose the anchor's day (the 31st).
  for (let p = billingPeriodAt(anchor, intervalMonths, from); epochSeconds(p.start) < ts; p = billingPeriodAt(anchor, intervalMonths, p.end)) {
    const { s, e, total } = period(p.start, p.end);
    const overlap = clamp(ts, s, e) - clamp(fs, s, e);
    if (overlap > 0n) {
      num = num * total + overlap * den;
      den *= total;
      const g = gcd(num, den);
      num /= g;
      den /= g;
    }
  }
  return money(roundHalfUp(BigInt(price.amount_minor) * num, den), price.currency);
}
