import { z } from 'zod';

/**
 * Money is an integer count of the currency's minor unit plus its ISO 4217 code. Never a float.
 * The exponent (digits after the decimal point) comes from ISO 4217 via Intl, with the handful of
 * currencies whose Intl display digits differ from ISO pinned explicitly.
 */
export interface Money {
  readonly amount_minor: number;
  readonly currency: string;
}

const ISO_EXPONENT_OVERRIDES: Record<string, number> = {
  // Intl reports display digits; ISO 4217 minor units differ for these.
  CLF: 4,
  UYW: 4,
  ISK: 0,
  HUF: 2,
  TWD: 2,
  IQD: 3,
  LYD: 3,
  TND: 3,
  KWD: 3,
  BHD: 3,
  JOD: 3,
  OMR: 3,
};

const exponentCache = new Map<string, number>();

export function isCurrency(code: string): boolean {
  if (!/^[A-Z]{3}$/.test(code)) return false;
  try {
    // supportedValuesOf lists ISO codes the runtime knows; unknown codes are rejected.
    return Intl.supportedValuesOf('currency').includes(code);
  } catch {
    return false;
  }
}

/** Number of minor-unit digits of an ISO 4217 currency (JPY 0, EUR 2, KWD 3). */
export function currencyExponent(currency: string): number {
  const cached = exponentCache.get(currency);
  if (cached !== undefined) return cached;
  if (!isCurrency(currency)) throw new RangeError(`unknown ISO 4217 currency "${currency}"`);
  const exp = ISO_EXPONENT_OVERRIDES[currency] ?? new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  exponentCache.set(currency, exp);
  return exp;
}

export const CurrencySchema = z
  .string()
  .transform((s) => s.toUpperCase())
  .refine(isCurrency, { message: 'expected an ISO 4217 currency code such as EUR, USD or JPY' });

export const MinorAmountSchema = z
  .number()
  .int('expected an integer number of minor units (cents, yen…), not a decimal')
  .refine(Number.isSafeInteger, 'amount is too large');

export const MoneySchema = z.object({ amount_minor: MinorAmountSchema, currency: CurrencySchema }).strict();

export const money = (amount_minor: number, currency: string): Money => ({ amount_minor, currency });

function assertSame(a: Money, b: Money): void {
  if (a.currency !== b.currency) throw new RangeError(`currency mismatch: ${a.currency} vs ${b.currency}`);
}

export const addMoney = (a: Money, b: Money): Money => (assertSame(a, b), money(a.amount_minor + b.amount_minor, a.currency));
export const subtractMoney = (a: Money, b: Money): Money => (assertSame(a, b), money(a.amount_minor - b.amount_minor, a.currency));
export const negateMoney = (a: Money): Money => money(a.amount_minor === 0 ? 0 : -a.amount_minor, a.currency);

/**
 * Rounds a rational number of minor units `num/den` half away from zero ("half-up" as finance
 * reads it) using BigInt so no intermediate ever loses precision.
 */
export function roundHalfUp(num: bigint, den: bigint): number {
  if (den === 0n) throw new RangeError('division by zero');
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  const neg = num < 0n;
  const abs = neg ? -num : num;
  const q = abs / den;
  const r = abs % den;
  const rounded = r * 2n >= den ? q + 1n : q;
  const out = Number(neg ? -rounded : rounded);
  return out === 0 ? 0 : out;
}

/** Decimal string of a Money in major units, e.g. 1234 EUR → "12.34", 500 JPY → "500". */
export function toDecimalString(m: Money): string {
  const exp = currencyExponent(m.currency);
  const neg = m.amount_minor < 0;
  const digits = String(Math.abs(m.amount_minor)).padStart(exp + 1, '0');
  const whole = exp === 0 ? digits : digits.slice(0, -exp);
  const frac = exp === 0 ? '' : '.' + digits.slice(-exp);
  return `${neg ? '-' : ''}${whole}${frac}`;
}

/** Parses a decimal major-unit string ("12.34") into minor units, refusing more digits than the currency has. */
export function parseDecimal(value: string, currency: string): Money {
  const exp = currencyExponent(currency);
  const m = /^(-)?(\d+)(?:\.(\d+))?$/.exec(value.trim());
  if (!m) throw new RangeError(`"${value}" is not a decimal amount`);
  const frac = m[3] ?? '';
  if (frac.length > exp) throw new RangeError(`${currency} has ${exp} decimal places; "${value}" has ${frac.length}`);
  const minor = Number(BigInt(m[2] + frac.padEnd(exp, '0')));
  if (!Number.isSafeInteger(minor)) throw new RangeError(`"${value}" is too large`);
  return money(m[1] && minor !== 0 ? -minor : minor, currency);
}

const formatters = new Map<string, Intl.NumberFormat>();

/** Human formatting for emails and Slack, e.g. "€12.34", "¥500". Formatters are cached: building one costs far more than using it. */
export function formatMoney(m: Money, locale = 'en-US'): string {
  const cacheKey = `${locale}|${m.currency}`;
  let formatter = formatters.get(cacheKey);
  if (!formatter) {
    const exp = currencyExponent(m.currency);
    formatter = new Intl.NumberFormat(locale, { style: 'currency', currency: m.currency, minimumFractionDigits: exp, maximumFractionDigits: exp });
    if (formatters.size >= 512) formatters.clear(); // bounded, whatever locales arrive
    formatters.set(cacheKey, formatter);
  }
  // A decimal string keeps every digit; a Number would round amounts beyond 2^53 minor units.
  return formatter.format(toDecimalString(m) as unknown as number);
}
