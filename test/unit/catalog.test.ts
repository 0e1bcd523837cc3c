import { AppError } from '../../src/records/errors';
import {
  CatalogSchema,
  DEFAULT_CHANGE_POLICY,
  findPlan,
  formatPath,
  parseCatalog,
  percentRational,
  planPrice,
  slaCreditBracket,
  supportTierRank,
} from '../../src/records/catalog';
import { money } from '../../src/records/money';
import { buildCatalog, CATALOG_FILE, catalogJsonWith, readCatalogJson } from '../helpers/builders';

function parseError(json: unknown): AppError {
  try {
    parseCatalog(json, '/etc/lifecycle-desk/catalog.json');
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected parseCatalog to throw');
}

describe('config/catalog.example.json', () => {
  it('parses', () => {
    const catalog = buildCatalog();
    expect(catalog.plans.map((p) => p.id)).toEqual(['free', 'starter', 'growth', 'business', 'enterprise']);
    expect(catalog.support_tiers.map((t) => t.id)).toEqual(['standard', 'priority', 'premium']);
  });

  it('prices every plan in EUR, USD, GBP and JPY', () => {
    for (const plan of buildCatalog().plans) expect(Object.keys(plan.prices).sort()).toEqual(['EUR', 'GBP', 'JPY', 'USD']);
  });

  it('ranks plans strictly upwards in file order', () => {
    const ranks = buildCatalog().plans.map((p) => p.tier_rank);
    expect([...ranks].sort((a, b) => a - b)).toEqual(ranks);
    expect(new Set(ranks).size).toBe(ranks.length);
  });
});

describe('parseCatalog errors', () => {
  it('is a catalog_invalid AppError naming the source file', () => {
    const err = parseError(catalogJsonWith((c) => (c.plans[2].prices.EUR = 99.5)));
    expect(err.code).toBe('catalog_invalid');
    expect(err.message).toContain('/etc/lifecycle-desk/catalog.json');
  });

  it('names the path of a decimal price', () => {
    const err = parseError(catalogJsonWith((c) => (c.plans[2].prices.EUR = 99.5)));
    expect(err.message).toContain('plans[2].prices.EUR: expected integer minor units');
    expect(err.problems).toContainEqual({ field: 'plans[2].prices.EUR', message: 'expected integer minor units' });
  });

  it('refuses a negative price', () => {
    expect(parseError(catalogJsonWith((c) => (c.plans[1].prices.USD = -1))).message).toContain('plans[1].prices.USD: expected integer minor units >= 0');
  });

  it('refuses a price keyed by something that is not an ISO currency', () => {
    expect(parseError(catalogJsonWith((c) => (c.plans[0].prices.EURO = 100))).message).toContain(
      'plans[0].prices.EURO: "EURO" is not an ISO 4217 currency code',
    );
  });

  it('refuses a lower-case currency key', () => {
    expect(parseError(catalogJsonWith((c) => (c.plans[0].prices.eur = 100))).problems.map((p) => p.field)).toContain('plans[0].prices.eur');
  });

  it('refuses duplicate plan ids', () => {
    expect(parseError(catalogJsonWith((c) => (c.plans[3].id = 'starter'))).message).toContain('plans[3].id: duplicate plan id "starter" (also plans[1])');
  });

  it('refuses duplicate support tier ids', () => {
    const err = parseError(catalogJsonWith((c) => c.support_tiers.push({ id: 'standard', name: 'Standard again', rank: 9 })));
    expect(err.problems.map((p) => p.field)).toEqual(['support_tiers[3].id']);
  });

  it('refuses duplicate support tier ranks', () => {
    expect(parseError(catalogJsonWith((c) => (c.support_tiers[1].rank = 1))).problems.map((p) => p.field)).toEqual(['support_tiers[1].rank']);
  });

  it('refuses a plan whose support tier does not exist', () => {
    expect(parseError(catalogJsonWith((c) => (c.plans[4].support_tier = 'platinum'))).message).toContain(
      'plans[4].support_tier: unknown support tier "platinum"; expected one of: standard, priority, premium',
    );
  });

  it('refuses an unknown interval', () => {
    expect(parseError(catalogJsonWith((c) => (c.plans[0].interval = 'week'))).problems.map((p) => p.field)).toEqual(['plans[0].interval']);
  });

  it('refuses unknown keys, so typos do not pass silently', () => {
    expect(parseError(catalogJsonWith((c) => (c.plans[0].pricez = {}))).problems.map((p) => p.field)).toEqual(['plans[0]']);
  });

  it('refuses SLA credit brackets where less uptime earns less credit', () => {
    const err = parseError(
      catalogJsonWith(
        (c) =>
          (c.sla_credits = [
            { uptime_below: 99.9, percent: 25 },
            { uptime_below: 99, percent: 10 },
          ]),
      ),
    );
    expect(err.problems.map((p) => p.field)).toEqual(['sla_credits[1].percent']);
  });

  it('lists every shape problem at once', () => {
    const err = parseError(
      catalogJsonWith((c) => {
        c.plans[0].prices.JPY = 1.5;
        c.plans[3].tier_rank = 'high';
      }),
    );
    expect(err.problems.map((p) => p.field)).toEqual(['plans[0].prices.JPY', 'plans[3].tier_rank']);
  });

  it('lists every cross-check problem at once (they run once the shape is right)', () => {
    const err = parseError(
      catalogJsonWith((c) => {
        c.plans[1].support_tier = 'nope';
        c.plans[2].id = 'free';
      }),
    );
    expect(err.problems.map((p) => p.field)).toEqual(['plans[1].support_tier', 'plans[2].id']);
  });

  it('refuses a document that is not an object', () => {
    expect(parseError([]).problems).toHaveLength(1);
  });
});

describe('defaults', () => {
  it('uses the Kill Bill style change policy when none is given', () => {
    const catalog = parseCatalog(
      catalogJsonWith((c) => delete c.change_policy),
      CATALOG_FILE,
    );
    expect(catalog.change_policy).toEqual(DEFAULT_CHANGE_POLICY);
  });
});

describe('helpers', () => {
  const catalog = buildCatalog();

  it('findPlan finds by id and returns undefined otherwise', () => {
    expect(findPlan(catalog, 'growth')?.name).toBe('Growth');
    expect(findPlan(catalog, 'platinum')).toBeUndefined();
  });

  it('planPrice returns Money in the currency asked for', () => {
    const growth = findPlan(catalog, 'growth')!;
    expect(planPrice(growth, 'EUR')).toEqual(money(9900, 'EUR'));
    expect(planPrice(growth, 'JPY')).toEqual(money(15000, 'JPY'));
    expect(planPrice(growth, 'CHF')).toBeUndefined();
    expect(planPrice(growth, 'toString')).toBeUndefined();
  });

  it('supportTierRank', () => {
    expect(supportTierRank(catalog, 'premium')).toBe(3);
    expect(supportTierRank(catalog, 'gold')).toBeUndefined();
  });

  it.each([
    [99.95, undefined],
    [99.9, undefined],
    [99.5, 10],
    [98.0, 25],
    [94.99, 50],
    [0, 50],
  ])('uptime %f%% falls in the %s%% bracket', (uptime, percent) => {
    expect(slaCreditBracket(catalog, uptime)?.percent).toBe(percent);
  });

  it('percentRational is exact for up to 4 decimals', () => {
    expect(percentRational(12.5)).toEqual({ num: 125000n, den: 1000000n });
    expect(percentRational(0.0001)).toEqual({ num: 1n, den: 1000000n });
  });

  it('formatPath', () => {
    expect(formatPath(['plans', 2, 'prices', 'EUR'])).toBe('plans[2].prices.EUR');
    expect(formatPath([])).toBe('');
  });

  it('CatalogSchema is exported for other tools', () => {
    expect(CatalogSchema.safeParse(readCatalogJson()).success).toBe(true);
  });
});
