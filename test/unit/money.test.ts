import fc from 'fast-check';
import {
  addMoney,
  currencyExponent,
  formatMoney,
  isCurrency,
  money,
  MoneySchema,
  negateMoney,
  parseDecimal,
  roundHalfUp,
  subtractMoney,
  toDecimalString,
} from '../../src/records/money';

describe('currencyExponent', () => {
  it.each([
    ['JPY', 0],
    ['EUR', 2],
    ['USD', 2],
    ['GBP', 2],
    ['KWD', 3],
    ['BHD', 3],
  ])('%s has %i minor digits', (code, exp) => {
    expect(currencyExponent(code)).toBe(exp);
  });

  it('refuses codes that are not ISO 4217', () => {
    expect(() => currencyExponent('XYZ')).toThrow(RangeError);
    expect(isCurrency('eur')).toBe(false);
  });
});

describe('toDecimalString / parseDecimal', () => {
  it.each([
    [money(1234, 'EUR'), '12.34'],
    [money(5, 'EUR'), '0.05'],
    [money(-5, 'EUR'), '-0.05'],
    [money(500, 'JPY'), '500'],
    [money(1234, 'KWD'), '1.234'],
    [money(0, 'KWD'), '0.000'],
  ])('%o ⇄ %s', (m, s) => {
    expect(toDecimalString(m)).toBe(s);
    expect(parseDecimal(s, m.currency)).toEqual(m);
  });

  it('round-trips any safe amount in JPY, EUR and KWD', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(10 ** 12), max: 10 ** 12 }), fc.constantFrom('JPY', 'EUR', 'KWD'), (amount, currency) => {
        const m = money(amount, currency);
        expect(parseDecimal(toDecimalString(m), currency)).toEqual(m);
      }),
    );
  });

  it('refuses more decimals than the currency has', () => {
    expect(() => parseDecimal('12.345', 'EUR')).toThrow(/2 decimal places/);
    expect(() => parseDecimal('1.5', 'JPY')).toThrow(/0 decimal places/);
  });

  it('refuses text that is not a decimal', () => {
    expect(() => parseDecimal('12,34', 'EUR')).toThrow(/not a decimal/);
  });
});

describe('roundHalfUp', () => {
  it.each([
    [5n, 2n, 3],
    [-5n, 2n, -3],
    [15n, 10n, 2],
    [-15n, 10n, -2],
    [25n, 10n, 3],
    [-25n, 10n, -3],
    [14n, 10n, 1],
    [-14n, 10n, -1],
    [16n, 10n, 2],
    [-16n, 10n, -2],
    [1n, 3n, 0],
    [5n, -2n, -3],
  ])('%s / %s → %i', (num, den, out) => {
    expect(roundHalfUp(num, den)).toBe(out);
  });

  it('never returns negative zero', () => {
    expect(Object.is(roundHalfUp(-1n, 3n), 0)).toBe(true);
  });

  it('refuses division by zero', () => {
    expect(() => roundHalfUp(1n, 0n)).toThrow(RangeError);
  });
});

describe('arithmetic', () => {
  it('adds, subtracts and negates in one currency', () => {
    expect(addMoney(money(100, 'EUR'), money(25, 'EUR'))).toEqual(money(125, 'EUR'));
    expect(subtractMoney(money(100, 'EUR'), money(125, 'EUR'))).toEqual(money(-25, 'EUR'));
    expect(negateMoney(money(100, 'EUR'))).toEqual(money(-100, 'EUR'));
    expect(Object.is(negateMoney(money(0, 'EUR')).amount_minor, 0)).toBe(true);
  });

  it('refuses to mix currencies', () => {
    expect(() => addMoney(money(1, 'EUR'), money(1, 'USD'))).toThrow(/currency mismatch/);
  });
});

describe('MoneySchema', () => {
  it('upper-cases the currency', () => {
    expect(MoneySchema.parse({ amount_minor: 100, currency: 'eur' })).toEqual(money(100, 'EUR'));
  });

  it('refuses decimal amounts', () => {
    expect(MoneySchema.safeParse({ amount_minor: 1.5, currency: 'EUR' }).success).toBe(false);
  });
});

describe('formatMoney', () => {
  it.each([
    [money(1234, 'EUR'), '€12.34'],
    [money(-1234, 'EUR'), '-€12.34'],
    [money(500, 'JPY'), '¥500'],
    [money(1234, 'KWD'), 'KWD 1.234'],
    [money(123456789, 'USD'), '$1,234,567.89'],
  ])('%o → %s', (m, s) => {
    expect(formatMoney(m).replace(/\u00a0/g, ' ')).toBe(s);
  });

  it('uses the locale given', () => {
    expect(formatMoney(money(1234, 'EUR'), 'de-DE').replace(/\u00a0/g, ' ')).toBe('12,34 €');
  });
});
