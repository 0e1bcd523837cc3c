import { FACTS, GROUP_BY, parseGroupBy, parseRange, percentileCont, sectionsOf, shareOf, REPORT_NAMES } from '../../src/records/reports';
import { computedMeasures } from '../../src/db/reports.queries';

describe('report parameters', () => {
  it('reads dates as whole UTC days, the end date included', () => {
    expect(parseRange('2026-03-01', '2026-03-31')).toEqual({ range: { from: new Date('2026-03-01T00:00:00Z'), to: new Date('2026-04-01T00:00:00Z') } });
  });

  it('takes timestamps as they are, the end exclusive', () => {
    expect(parseRange('2026-03-01T12:00:00+01:00', '2026-03-02T00:00:00Z')).toEqual({
      range: { from: new Date('2026-03-01T11:00:00Z'), to: new Date('2026-03-02T00:00:00Z') },
    });
  });

  it('names every problem with the range', () => {
    expect(parseRange(undefined, 'soon')).toEqual({
      problems: [
        { field: 'from', message: 'is required (a date as YYYY-MM-DD or an ISO 8601 timestamp such as 2026-05-01T00:00:00Z)' },
        { field: 'to', message: '"soon" is not a date as YYYY-MM-DD or an ISO 8601 timestamp such as 2026-05-01T00:00:00Z' },
      ],
    });
  });

  it("takes group_by as a comma-separated list of the report's dimensions", () => {
    expect(parseGroupBy('volume', 'kind, state,kind')).toEqual({ groupBy: ['kind', 'state'] });
    expect(parseGroupBy('approvals', 'approver')).toEqual({
      problems: [{ field: 'group_by', message: 'approver: not a dimension of the approvals report; expected some of: month, kind' }],
    });
  });
});

describe('arithmetic', () => {
  it("percentiles interpolate as PostgreSQL's percentile_cont does", () => {
    expect(percentileCont([7200, 14400, 14400, 21600, 86400], 0.9)).toBeCloseTo(60480, 6);
    expect(percentileCont([3], 0.5)).toBe(3);
    expect(percentileCont([], 0.5)).toBeNull();
  });

  it('shares are rounded to four decimals and null without a denominator', () => {
    expect(shareOf(2, 3)).toBe(0.6667);
    expect(shareOf(1, 0)).toBeNull();
  });
});

it('every section groups by dimensions its population has, and shares name counts of their section', () => {
  for (const name of REPORT_NAMES) {
    for (const s of sectionsOf(name)) {
      const keys = s.measures.map((m) => m.key);
      for (const m of s.measures) if (m.share) expect([m.key, keys.includes(m.share[0]) && keys.includes(m.share[1])]).toEqual([m.key, true]);
      for (const m of s.measures) if (m.type === 'share' && !m.share) expect(computedMeasures.has(m.key)).toBe(true);
    }
  }
});

it('every dimension group_by takes is a column of every population its report reads', () => {
  for (const name of REPORT_NAMES) {
    for (const dim of GROUP_BY[name]) {
      for (const s of sectionsOf(name, [dim]))
        expect([name, s.name, dim, (FACTS[s.fact] as readonly string[]).includes(dim)]).toEqual([name, s.name, dim, true]);
    }
  }
});
