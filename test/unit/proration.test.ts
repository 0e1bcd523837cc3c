import fc from 'fast-check';
import { money } from '../../src/records/money';
import { addMonths, billingPeriodAt, chargesOverPeriods, periodCharges, prorate, toProrationRecord } from '../../src/records/proration';
import { ProrationSchema } from '../../src/records/kinds';

const MARCH = { periodStart: new Date('2026-03-01T00:00:00Z'), periodEnd: new Date('2026-04-01T00:00:00Z') };
const TWO_YEARS = 2 * 366 * 86_400;

/** Exact rounding oracle, written independently of money.ts: half away from zero on |num|/den. */
function oracleRound(num: bigint, den: bigint): bigint {
  const neg = num < 0n;
  const abs = neg ? -num : num;
  const rounded = (2n * abs + den) / (2n * den);
  return neg ? -rounded : rounded;
}

const scenario = fc
  .record({
    currency: fc.constantFrom('JPY', 'EUR', 'KWD'),
    oldMinor: fc.integer({ min: 0, max: 1_000_000_000 }),
    newMinor: fc.integer({ min: 0, max: 1_000_000_000 }),
    startSec: fc.integer({ min: 1_600_000_000, max: 1_900_000_000 }),
    totalSec: fc.integer({ min: 1, max: TWO_YEARS }),
    // Change instants before, inside and after the period, with sub-second noise.
    changeFrac: fc.double({ min: -0.2, max: 1.2, noNaN: true }),
    startMs: fc.integer({ min: 0, max: 999 }),
    changeMs: fc.integer({ min: 0, max: 999 }),
  })
  .map((s) => {
    const changeSec = s.startSec + Math.floor(s.totalSec * s.changeFrac);
    return {
      ...s,
      input: {
        oldPrice: money(s.oldMinor, s.currency),
        newPrice: money(s.newMinor, s.currency),
        periodStart: new Date(s.startSec * 1000 + s.startMs),
        periodEnd: new Date((s.startSec + s.totalSec) * 1000 + s.startMs),
        changeAt: new Date(changeSec * 1000 + s.changeMs),
      },
      remaining: BigInt(Math.min(Math.max(s.startSec + s.totalSec - changeSec, 0), s.totalSec)),
    };
  });

describe('prorate (properties)', () => {
  it('credit + charge === net exactly, all in the input currency', () => {
    fc.assert(
      fc.property(scenario, ({ input, currency }) => {
        const r = prorate(input);
        expect(r.credit.amount_minor + r.charge.amount_minor).toBe(r.net.amount_minor);
        expect([r.credit.currency, r.charge.currency, r.net.currency]).toEqual([currency, currency, currency]);
      }),
      { numRuns: 2000 },
    );
  });

  it('net === round((new - old) × remaining / total), half away from zero', () => {
    fc.assert(
      fc.property(scenario, ({ input, oldMinor, newMinor, totalSec, remaining }) => {
        const expected = oracleRound(BigInt(newMinor - oldMinor) * remaining, BigInt(totalSec));
        expect(BigInt(prorate(input).net.amount_minor)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('credit is -round(old × remaining / total) and never positive', () => {
    fc.assert(
      fc.property(scenario, ({ input, oldMinor, totalSec, remaining }) => {
        const credit = prorate(input).credit.amount_minor;
        expect(BigInt(credit)).toBe(-oracleRound(BigInt(oldMinor) * remaining, BigInt(totalSec)));
        expect(credit).toBeLessThanOrEqual(0);
      }),
      { numRuns: 2000 },
    );
  });

  it('charge is non-negative and within one minor unit of new × remaining / total', () => {
    fc.assert(
      fc.property(scenario, ({ input, newMinor, totalSec, remaining }) => {
        const charge = BigInt(prorate(input).charge.amount_minor);
        expect(charge >= 0n).toBe(true);
        // |charge - new·r/T| <= 1  ⇔  |charge·T - new·r| <= T
        const diff = charge * BigInt(totalSec) - BigInt(newMinor) * remaining;
        expect((diff < 0n ? -diff : diff) <= BigInt(totalSec)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('a change at the period start credits the whole old price and charges the whole new one', () => {
    fc.assert(
      fc.property(scenario, ({ input, oldMinor, newMinor, currency }) => {
        const r = prorate({ ...input, changeAt: input.periodStart });
        expect(r.credit).toEqual(money(oldMinor === 0 ? 0 : -oldMinor, currency));
        expect(r.charge).toEqual(money(newMinor, currency));
        expect(r.net).toEqual(money(newMinor - oldMinor, currency));
      }),
    );
  });

  it('a change at the period end (or after) is all zero', () => {
    fc.assert(
      fc.property(scenario, fc.integer({ min: 0, max: 10_000_000 }), ({ input, currency }, later) => {
        const zero = money(0, currency);
        const r = prorate({ ...input, changeAt: new Date(input.periodEnd.getTime() + later) });
        expect(r).toEqual({ credit: zero, charge: zero, net: zero });
        expect(Object.is(r.credit.amount_minor, -0)).toBe(false);
      }),
    );
  });
});

describe('prorate (examples)', () => {
  it('upgrade half-way through a 31-day month', () => {
    // March has 2,678,400 s; half of it remains on 2026-03-16T12:00Z.
    const r = prorate({ ...MARCH, oldPrice: money(9900, 'EUR'), newPrice: money(29900, 'EUR'), changeAt: new Date('2026-03-16T12:00:00Z') });
    expect(r).toEqual({ credit: money(-4950, 'EUR'), charge: money(14950, 'EUR'), net: money(10000, 'EUR') });
  });

  it('rounds the net half away from zero (JPY, 0 decimals)', () => {
    // 2 s period, 1 s remaining: 3 × 1/2 = 1.5 exactly
    const period = { periodStart: new Date('2026-01-01T00:00:00Z'), periodEnd: new Date('2026-01-01T00:00:02Z') };
    const r = prorate({ ...period, oldPrice: money(0, 'JPY'), newPrice: money(3, 'JPY'), changeAt: new Date('2026-01-01T00:00:01Z') });
    expect(r.net).toEqual(money(2, 'JPY'));
    const down = prorate({ ...period, oldPrice: money(3, 'JPY'), newPrice: money(0, 'JPY'), changeAt: new Date('2026-01-01T00:00:01Z') });
    expect(down).toEqual({ credit: money(-2, 'JPY'), charge: money(0, 'JPY'), net: money(-2, 'JPY') });
  });

  it('counts whole seconds: milliseconds are floored away', () => {
    const a = prorate({ ...MARCH, oldPrice: money(9900, 'EUR'), newPrice: money(29900, 'EUR'), changeAt: new Date('2026-03-16T12:00:00.000Z') });
    const b = prorate({ ...MARCH, oldPrice: money(9900, 'EUR'), newPrice: money(29900, 'EUR'), changeAt: new Date('2026-03-16T12:00:00.999Z') });
    expect(b).toEqual(a);
  });

  it('a change before the period starts counts the whole period', () => {
    const r = prorate({ ...MARCH, oldPrice: money(100, 'EUR'), newPrice: money(300, 'EUR'), changeAt: new Date('2026-02-01T00:00:00Z') });
    expect(r.net).toEqual(money(200, 'EUR'));
  });

  it('refuses mixed currencies', () => {
    expect(() => prorate({ ...MARCH, oldPrice: money(1, 'EUR'), newPrice: money(1, 'USD'), changeAt: MARCH.periodStart })).toThrow(RangeError);
  });

  it('refuses a period that does not end after it starts', () => {
    expect(() =>
      prorate({
        periodStart: MARCH.periodEnd,
        periodEnd: MARCH.periodStart,
        oldPrice: money(1, 'EUR'),
        newPrice: money(1, 'EUR'),
        changeAt: MARCH.periodStart,
      }),
    ).toThrow(RangeError);
    // Less than a whole second apart is empty once floored.
    const t = new Date('2026-01-01T00:00:00.100Z');
    expect(() =>
      prorate({ periodStart: t, periodEnd: new Date(t.getTime() + 500), oldPrice: money(1, 'EUR'), newPrice: money(1, 'EUR'), changeAt: t }),
    ).toThrow(RangeError);
  });

  it('refuses invalid dates', () => {
    expect(() => prorate({ ...MARCH, oldPrice: money(1, 'EUR'), newPrice: money(1, 'EUR'), changeAt: new Date('nope') })).toThrow(/changeAt/);
  });
});

describe('toProrationRecord', () => {
  it('returns the kinds.ts Proration shape with instants floored to the second', () => {
    const input = { ...MARCH, oldPrice: money(9900, 'EUR'), newPrice: money(29900, 'EUR'), changeAt: new Date('2026-03-16T12:00:00.750Z') };
    const rec = toProrationRecord(input);
    expect(ProrationSchema.parse(rec)).toEqual(rec);
    expect(rec).toEqual({
      period_start: '2026-03-01T00:00:00.000Z',
      period_end: '2026-04-01T00:00:00.000Z',
      change_at: '2026-03-16T12:00:00.000Z',
      ...prorate(input),
    });
  });
});

describe('periodCharges', () => {
  const price = money(9900, 'EUR');

  it('charges the share of the period the window covers, to the second', () => {
    // One day of a 31-day month: 9900 / 31 = 319.35… → 319
    expect(periodCharges(price, MARCH.periodStart, MARCH.periodEnd, new Date('2026-03-10T00:00:00Z'), new Date('2026-03-11T00:00:00Z'))).toEqual(
      money(319, 'EUR'),
    );
  });

  it('charges the whole price for the whole period', () => {
    expect(periodCharges(price, MARCH.periodStart, MARCH.periodEnd, MARCH.periodStart, MARCH.periodEnd)).toEqual(price);
  });

  it('clamps the window into the period', () => {
    expect(periodCharges(price, MARCH.periodStart, MARCH.periodEnd, new Date('2026-02-01T00:00:00Z'), new Date('2026-05-01T00:00:00Z'))).toEqual(price);
    expect(periodCharges(price, MARCH.periodStart, MARCH.periodEnd, new Date('2026-05-01T00:00:00Z'), new Date('2026-05-02T00:00:00Z'))).toEqual(
      money(0, 'EUR'),
    );
  });

  it('rounds half up', () => {
    // 1 minor unit over 2 s, 1 s affected = 0.5 → 1
    const start = new Date('2026-01-01T00:00:00Z');
    const end = new Date('2026-01-01T00:00:02Z');
    expect(periodCharges(money(1, 'JPY'), start, end, start, new Date('2026-01-01T00:00:01Z'))).toEqual(money(1, 'JPY'));
  });

  it('refuses a reversed window', () => {
    expect(() => periodCharges(price, MARCH.periodStart, MARCH.periodEnd, MARCH.periodEnd, MARCH.periodStart)).toThrow(RangeError);
  });

  it('never exceeds the price', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000_000 }),
        fc.integer({ min: -5_000_000, max: 5_000_000 }),
        fc.integer({ min: 0, max: 5_000_000 }),
        (amount, offset, len) => {
          const from = new Date(MARCH.periodStart.getTime() + offset * 1000);
          const to = new Date(from.getTime() + len * 1000);
          const c = periodCharges(money(amount, 'EUR'), MARCH.periodStart, MARCH.periodEnd, from, to).amount_minor;
          expect(c).toBeGreaterThanOrEqual(0);
          expect(c).toBeLessThanOrEqual(amount);
        },
      ),
    );
  });
});

describe('billing periods', () => {
  const at = (s: string) => new Date(s);
  const iso = (p: { start: Date; end: Date }) => [p.start.toISOString(), p.end.toISOString()];

  it('adds calendar months from the anchor, keeping its day where the month has one', () => {
    const jan31 = at('2026-01-31T09:30:00Z');
    expect([1, 2, 3, 13, -1, -11].map((m) => addMonths(jan31, m).toISOString())).toEqual([
      '2026-02-28T09:30:00.000Z',
      '2026-03-31T09:30:00.000Z',
      '2026-04-30T09:30:00.000Z',
      '2027-02-28T09:30:00.000Z',
      '2025-12-31T09:30:00.000Z',
      '2025-02-28T09:30:00.000Z',
    ]);
    expect(addMonths(at('2024-01-29T00:00:00Z'), 1).toISOString()).toBe('2024-02-29T00:00:00.000Z');
    // Years 0–99 are not read as 1900–1999.
    expect(addMonths(at('2026-03-01T00:00:00Z'), -2026 * 12).toISOString()).toBe('0000-03-01T00:00:00.000Z');
  });

  it('finds the monthly or yearly period containing an instant, before or after the anchor', () => {
    const anchor = at('2026-01-15T00:00:00Z');
    expect(iso(billingPeriodAt(anchor, 1, at('2026-03-20T00:00:00Z')))).toEqual(['2026-03-15T00:00:00.000Z', '2026-04-15T00:00:00.000Z']);
    expect(iso(billingPeriodAt(anchor, 1, at('2026-03-15T00:00:00Z')))).toEqual(['2026-03-15T00:00:00.000Z', '2026-04-15T00:00:00.000Z']);
    expect(iso(billingPeriodAt(anchor, 1, at('2026-03-14T23:59:59Z')))).toEqual(['2026-02-15T00:00:00.000Z', '2026-03-15T00:00:00.000Z']);
    expect(iso(billingPeriodAt(anchor, 1, at('1999-01-02T00:00:00Z')))).toEqual(['1998-12-15T00:00:00.000Z', '1999-01-15T00:00:00.000Z']);
    expect(iso(billingPeriodAt(anchor, 12, at('2028-01-14T00:00:00Z')))).toEqual(['2027-01-15T00:00:00.000Z', '2028-01-15T00:00:00.000Z']);
  });

  it('charges a window by the periods it touches, each at its own length (not the contract term)', () => {
    const anchor = at('2026-01-01T00:00:00Z');
    const price = money(29900, 'EUR');
    // Ten days of a 31-day March: 29900 × 10/31 = 9645.16 (over a 12-month term it would be 819).
    expect(chargesOverPeriods(price, anchor, 1, at('2026-03-01T00:00:00Z'), at('2026-03-11T00:00:00Z'))).toEqual(money(9645, 'EUR'));
    // Across February (28 days) and March: 29900 × (1/28 + 1/31) = 1067.86 + 964.52 = 2032.38
    expect(chargesOverPeriods(price, anchor, 1, at('2026-02-28T00:00:00Z'), at('2026-03-02T00:00:00Z'))).toEqual(money(2032, 'EUR'));
    // Whole periods cost exactly their price.
    expect(chargesOverPeriods(price, anchor, 1, at('2025-11-01T00:00:00Z'), at('2026-05-01T00:00:00Z'))).toEqual(money(6 * 29900, 'EUR'));
    expect(chargesOverPeriods(money(358800, 'EUR'), anchor, 12, at('2026-01-01T00:00:00Z'), at('2026-01-02T00:00:00Z'))).toEqual(money(983, 'EUR'));
    expect(chargesOverPeriods(price, anchor, 1, at('2026-03-01T00:00:00Z'), at('2026-03-01T00:00:00Z'))).toEqual(money(0, 'EUR'));
    // From a 31st anchor, periods after a short month still end on the 31st: seven whole periods cost seven prices.
    const end31 = at('2026-01-31T00:00:00Z');
    expect(chargesOverPeriods(price, end31, 1, at('2025-12-31T00:00:00Z'), at('2026-07-31T00:00:00Z'))).toEqual(money(7 * 29900, 'EUR'));
    expect(() => chargesOverPeriods(price, anchor, 1, at('2026-03-02T00:00:00Z'), at('2026-03-01T00:00:00Z'))).toThrow(RangeError);
  });

  it('never charges more than the periods touched, whatever the window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 400 * 86_400 }),
        fc.integer({ min: 0, max: 400 * 86_400 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        (a, len, amount) => {
          const anchor = at('2026-01-31T00:00:00Z');
          const from = new Date(Date.parse('2025-06-01T00:00:00Z') + a * 1000);
          const to = new Date(from.getTime() + len * 1000);
          const c = chargesOverPeriods(money(amount, 'EUR'), anchor, 1, from, to).amount_minor;
          let touched = 0;
          for (let p = billingPeriodAt(anchor, 1, from); p.start < to; p = billingPeriodAt(anchor, 1, p.end)) touched++;
          expect(c).toBeGreaterThanOrEqual(0);
          expect(c).toBeLessThanOrEqual(amount * Math.max(1, touched));
        },
      ),
    );
  });
});
