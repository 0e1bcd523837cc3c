import { parse } from 'csv-parse/sync';
import { reportRoutes } from '../../src/http/reports.routes';
import { KnexReportsSource } from '../../src/db/reports.queries';
import type { Report, ReportsDeps, SectionRow } from '../../src/app/reports';
import { systemClock } from '../../src/main';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { auth, buildTestHttp, API_TOKEN } from '../helpers/http';
import type { TestHttp } from '../helpers/http';
import { runCli } from '../helpers/cli';
import { FIXTURE_RANGE, RID, seedReportFixture } from '../fixtures/reports.fixture';

const TARGETS = { downgrade: 48, upgrade: 24, termination: 48, status_change: 24, service_credit: 48 };

let t: TestDb;
let h: TestHttp;
let deps: ReportsDeps;
beforeAll(async () => {
  t = await createTestDb();
  await seedReportFixture(t.db, t.admin);
  deps = { source: new KnexReportsSource(t.db), clock: systemClock, clocks: { turnaround_hours: TARGETS } };
  h = await buildTestHttp(t.db, { extra: { plugins: [(scope) => reportRoutes(scope, { apiToken: API_TOKEN, reports: deps })] } });
});
afterAll(async () => {
  await h.close();
  await t.destroy();
});

const H = 3600;
const range = `from=${FIXTURE_RANGE.from}&to=${FIXTURE_RANGE.to}`;

/** What every form of a report must show, section by section (worked out by hand from the fixture's table). */
const EXPECTED: Record<string, Record<string, SectionRow[]>> = {
  volume: {
    by_kind: [
      { kind: 'downgrade', records: 2 },
      { kind: 'service_credit', records: 4 },
      { kind: 'termination', records: 3 },
      { kind: 'upgrade', records: 2 },
    ],
    by_kind_subtype: [
      { kind: 'downgrade', subtype: 'feature', records: 1 },
      { kind: 'downgrade', subtype: 'subscription', records: 1 },
      { kind: 'service_credit', subtype: 'delay', records: 1 },
      { kind: 'service_credit', subtype: 'goodwill', records: 1 },
      { kind: 'service_credit', subtype: 'outage', records: 1 },
      { kind: 'service_credit', subtype: 'sla_breach', records: 1 },
      { kind: 'termination', subtype: 'customer_initiated', records: 2 },
      { kind: 'termination', subtype: 'non_payment', records: 1 },
      { kind: 'upgrade', subtype: 'subscription', records: 2 },
    ],
    by_kind_reason: [
      { kind: 'downgrade', reason: 'price', records: 1 },
      { kind: 'downgrade', reason: 'unused_features', records: 1 },
      { kind: 'service_credit', reason: 'goodwill', records: 1 },
      { kind: 'service_credit', reason: 'late_reply', records: 1 },
      { kind: 'service_credit', reason: 'outage', records: 1 },
      { kind: 'service_credit', reason: 'sla_breach', records: 1 },
      { kind: 'termination', reason: 'non_payment', records: 1 },
      { kind: 'termination', reason: 'price', records: 1 },
      { kind: 'termination', reason: 'switched_to_competitor', records: 1 },
      { kind: 'upgrade', reason: 'growth', records: 2 },
    ],
    by_state: [
      { state: 'cancelled', records: 1 },
      { state: 'confirmed', records: 7 },
      { state: 'draft', records: 1 },
      { state: 'pending_approval', records: 1 },
      { state: 'rejected', records: 1 },
    ],
    by_agent: [
      { agent: 'alice', records: 4 },
      { agent: 'bob', records: 4 },
      { agent: 'carol', records: 3 },
    ],
    by_approver: [
      { approver: '(none)', records: 6 },
      { approver: 'sup1', records: 3 },
      { approver: 'sup2', records: 2 },
    ],
    by_month: [{ month: '2026-03', records: 11 }],
  },
  money: {
    credits: [
      { currency: 'EUR', records: 2, amount_minor: 6500, sla_outage_minor: 6500, sla_outage_share: 1 },
      { currency: 'JPY', records: 1, amount_minor: 1500, sla_outage_minor: 0, sla_outage_share: 0 },
    ],
    credits_by_cause: [
      { currency: 'EUR', cause: 'outage', records: 1, amount_minor: 2500 },
      { currency: 'EUR', cause: 'sla_breach', records: 1, amount_minor: 4000 },
      { currency: 'JPY', cause: 'goodwill', records: 1, amount_minor: 1500 },
    ],
    mrr: [
      { currency: 'EUR', added_by_upgrades_minor: 10000, lost_by_downgrades_minor: 10000, lost_by_terminations_minor: 8000 },
      { currency: 'JPY', added_by_upgrades_minor: 0, lost_by_downgrades_minor: 0, lost_by_terminations_minor: 0 },
    ],
    fees_charged: [{ currency: 'EUR', records: 1, amount_minor: 20000 }],
    fees_waived: [{ currency: 'EUR', records: 1, amount_minor: 50000 }],
    refunds: [
      { currency: 'EUR', purpose: 'termination_refund', records: 1, amount_minor: 1500 },
      { currency: 'JPY', purpose: 'service_credit', records: 1, amount_minor: 1500 },
    ],
  },
  approvals: {
    summary: [
      {
        evaluated: 10,
        auto_approved: 3,
        auto_approval_share: 0.3,
        requested: 7,
        approved: 4,
        rejected: 1,
        pending: 1,
        reminders: 2,
        escalations: 1,
        // Decision times 2 h, 4 h, 4 h, 6 h, 24 h: median 4 h; p90 = 6 h + 0.6 × 18 h.
        decision_median_seconds: 4 * H,
        decision_p90_seconds: 60480,
      },
    ],
    by_rule: [
      {
        rule: 'credits',
        evaluated: 2,
        auto_approved: 0,
        requested: 2,
        approved: 1,
        rejected: 1,
        approval_rate: 0.5,
        rejection_rate: 0.5,
        decided: 2,
        decision_median_seconds: 3 * H,
        decision_p90_seconds: 13680,
      },
      {
        rule: 'downgrades',
        evaluated: 2,
        auto_approved: 0,
        requested: 2,
        approved: 1,
        rejected: 0,
        approval_rate: 1,
        rejection_rate: 0,
        decided: 1,
        decision_median_seconds: 4 * H,
        decision_p90_seconds: 4 * H,
      },
      {
        rule: 'small_credits',
        evaluated: 2,
        auto_approved: 2,
        requested: 0,
        approved: 0,
        rejected: 0,
        approval_rate: null,
        rejection_rate: null,
        decided: 0,
        decision_median_seconds: null,
        decision_p90_seconds: null,
      },
      {
        rule: 'terminations',
        evaluated: 3,
        auto_approved: 0,
        requested: 3,
        approved: 2,
        rejected: 0,
        approval_rate: 1,
        rejection_rate: 0,
        decided: 2,
        decision_median_seconds: 15 * H,
        decision_p90_seconds: 79920,
      },
      {
        rule: 'upgrades_auto',
        evaluated: 1,
        auto_approved: 1,
        requested: 0,
        approved: 0,
        rejected: 0,
        approval_rate: null,
        rejection_rate: null,
        decided: 0,
        decision_median_seconds: null,
        decision_p90_seconds: null,
      },
    ],
    by_approver: [
      { approver: 'sup1', decisions: 3, approvals: 2, rejections: 1, approval_rate: 0.6667, rejection_rate: 0.3333 },
      { approver: 'sup2', decisions: 2, approvals: 2, rejections: 0, approval_rate: 1, rejection_rate: 0 },
    ],
  },
  turnaround: {
    // Handling times 2, 5, 7, 10, 24, 26, 54 h (R2 and R3 not counting their scheduled wait):
    // median 10 h; p90 = 26 h + 0.4 × 28 h = 37.2 h.
    overall: [
      {
        confirmed: 7,
        median_seconds: 10 * H,
        p90_seconds: 37.2 * H,
        within_24h: 5,
        within_24h_share: 0.7143,
        within_48h: 6,
        within_48h_share: 0.8571,
        within_target: 6,
        within_target_share: 0.8571,
      },
    ],
    by_kind: [
      {
        kind: 'downgrade',
        confirmed: 1,
        median_seconds: 5 * H,
        p90_seconds: 5 * H,
        within_24h: 1,
        within_24h_share: 1,
        within_48h: 1,
        within_48h_share: 1,
        target_hours: 48,
        within_target: 1,
        within_target_share: 1,
      },
      {
        kind: 'service_credit',
        confirmed: 3,
        median_seconds: 24 * H,
        p90_seconds: 48 * H,
        within_24h: 2,
        within_24h_share: 0.6667,
        within_48h: 2,
        within_48h_share: 0.6667,
        target_hours: 48,
        within_target: 2,
        within_target_share: 0.6667,
      },
      {
        kind: 'termination',
        confirmed: 2,
        median_seconds: 16.5 * H,
        p90_seconds: 86760,
        within_24h: 1,
        within_24h_share: 0.5,
        within_48h: 2,
        within_48h_share: 1,
        target_hours: 48,
        within_target: 2,
        within_target_share: 1,
      },
      {
        kind: 'upgrade',
        confirmed: 1,
        median_seconds: 10 * H,
        p90_seconds: 10 * H,
        within_24h: 1,
        within_24h_share: 1,
        within_48h: 1,
        within_48h_share: 1,
        target_hours: 24,
        within_target: 1,
        within_target_share: 1,
      },
    ],
  },
  churn: {
    terminations: [
      { month: '2026-03', reason: 'non_payment', terminations: 1 },
      { month: '2026-03', reason: 'switched_to_competitor', terminations: 1 },
    ],
    mrr_lost: [{ month: '2026-03', currency: 'EUR', terminations: 2, mrr_lost_minor: 8000 }],
    notice: [{ terminations: 2, notice_given_median_days: 7.63, notice_required_median_days: 30, given_below_required: 2 }],
    retention: [{ termination_requests: 3, offers_made: 2, accepted: 1, declined: 1, offer_pending: 0, acceptance_share: 0.5 }],
  },
  risk: {
    by_flag: [
      { flag: 'agent_credit_volume', records: 3 },
      { flag: 'credit_above_mrr_share', records: 1 },
      { flag: 'unknown_requester', records: 1 },
    ],
    by_agent: [
      { agent: 'alice', flag: 'unknown_requester', records: 1 },
      { agent: 'bob', flag: 'agent_credit_volume', records: 2 },
      { agent: 'carol', flag: 'agent_credit_volume', records: 1 },
      { agent: 'carol', flag: 'credit_above_mrr_share', records: 1 },
    ],
    by_account: [
      { account: 'acc_a', flag: 'agent_credit_volume', records: 2 },
      { account: 'acc_b', flag: 'agent_credit_volume', records: 1 },
      { account: 'acc_b', flag: 'credit_above_mrr_share', records: 1 },
      { account: 'acc_c', flag: 'unknown_requester', records: 1 },
    ],
    // Team: alice, bob, carol. EUR credits 0, 2500, 4000: median 2500. JPY 1500, 0, 0: median 0.
    credits_by_agent: [
      { agent: 'alice', currency: 'JPY', records: 1, credits_minor: 1500, team_median_minor: 0, ratio_to_median: null },
      { agent: 'bob', currency: 'EUR', records: 1, credits_minor: 2500, team_median_minor: 2500, ratio_to_median: 1 },
      { agent: 'carol', currency: 'EUR', records: 1, credits_minor: 4000, team_median_minor: 2500, ratio_to_median: 1.6 },
    ],
  },
};

const sectionsOf = (r: Report) => Object.fromEntries(r.sections.map((s) => [s.name, s.rows]));

describe.each(Object.keys(EXPECTED))('the %s report', (name) => {
  it('answers the hand-computed figures over the API', async () => {
    const res = await h.app.inject({ method: 'GET', url: `/api/reports/${name}?${range}`, headers: auth });
    expect(res.statusCode).toBe(200);
    const report = res.json() as Report;
    expect(report.from).toBe('2026-03-01T00:00:00.000Z');
    expect(report.to).toBe('2026-04-01T00:00:00.000Z');
    expect(sectionsOf(report)).toEqual(EXPECTED[name]);
  });

  it('prints the same figures from the CLI as JSON and as CSV', async () => {
    const env = { DATABASE_URL: t.url };
    const json = await runCli(['report', name, '--from', FIXTURE_RANGE.from, '--to', FIXTURE_RANGE.to, '--format', 'json'], env);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    expect(sectionsOf(JSON.parse(json.stdout) as Report)).toEqual(EXPECTED[name]);

    const csv = await runCli(['report', name, '--from', FIXTURE_RANGE.from, '--to', FIXTURE_RANGE.to, '--format', 'csv'], env);
    expect(csv.code).toBe(0);
    const rows = parse(csv.stdout, { columns: true }) as Record<string, string>[];
    const expected = Object.entries(EXPECTED[name]!).flatMap(([section, list]) => list.map((r) => ({ section, r })));
    expect(rows).toHaveLength(expected.length);
    rows.forEach((row, i) => {
      const { section, r } = expected[i]!;
      expect(row.section).toBe(section);
      // Every cell of the row as the API gives it; other sections' columns are empty.
      for (const [k, v] of Object.entries(r)) expect([k, row[k]]).toEqual([k, v === null ? '' : String(v)]);
    });

    const table = await runCli(['report', name, '--from', FIXTURE_RANGE.from, '--to', FIXTURE_RANGE.to], env);
    expect(table.code).toBe(0);
    for (const section of Object.keys(EXPECTED[name]!)) expect(table.stdout).toContain(`(${section})`);
  });
});

describe('drilling down', () => {
  const drill = async (name: string, query: string) => {
    const res = await h.app.inject({ method: 'GET', url: `/api/reports/${name}/records?${range}&${query}`, headers: auth });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { total: number; records: { id: string }[] };
    return { total: body.total, ids: body.records.map((r) => r.id).sort() };
  };

  it('a number opens exactly the records it counts', async () => {
    expect(await drill('money', 'section=credits&currency=EUR')).toEqual({ total: 2, ids: [RID.R5, RID.R6].sort() });
    expect(await drill('volume', 'section=by_state&state=confirmed')).toEqual({
      total: 7,
      ids: ['R1', 'R2', 'R3', 'R4', 'R5', 'R6', 'R7'].map((k) => RID[k]!).sort(),
    });
    expect(await drill('volume', 'section=by_approver&approver=sup1')).toEqual({ total: 3, ids: [RID.R2, RID.R4, RID.R8].sort() });
    expect(await drill('approvals', 'section=by_approver&approver=sup1&decision=approve')).toEqual({ total: 2, ids: [RID.R2, RID.R4].sort() });
    expect(await drill('approvals', 'section=summary&outcome=auto_approved')).toEqual({ total: 3, ids: [RID.R1, RID.R5, RID.R7].sort() });
    expect(await drill('money', 'section=mrr&currency=EUR&kind=termination')).toEqual({ total: 2, ids: [RID.R3, RID.R4].sort() });
    expect(await drill('churn', 'section=retention&outcome=accepted')).toEqual({ total: 1, ids: [RID.R11] });
    expect(await drill('turnaround', 'section=by_kind&kind=service_credit')).toEqual({ total: 3, ids: [RID.R5, RID.R6, RID.R7].sort() });
    expect(await drill('risk', 'section=by_agent&agent=bob&flag=agent_credit_volume')).toEqual({ total: 2, ids: [RID.R5, RID.R8].sort() });
  });

  it('every dimension of every section can be drilled by (the populations have the columns they claim)', async () => {
    const { sectionsOf: specsOf, FACTS, REPORT_NAMES } = await import('../../src/records/reports');
    for (const name of REPORT_NAMES) {
      for (const spec of specsOf(name)) {
        for (const column of FACTS[spec.fact]) {
          const res = await h.app.inject({
            method: 'GET',
            url: `/api/reports/${name}/records?${range}&section=${spec.name}&${column}=nothing-like-this`,
            headers: auth,
          });
          expect([name, spec.name, column, res.statusCode, res.json().total]).toEqual([name, spec.name, column, 200, 0]);
        }
      }
    }
  });

  it('caps the list at limit and still says how many there are', async () => {
    const res = await h.app.inject({ method: 'GET', url: `/api/reports/volume/records?${range}&section=by_state&state=confirmed&limit=2`, headers: auth });
    expect(res.json()).toMatchObject({ total: 7 });
    expect((res.json() as { records: unknown[] }).records).toHaveLength(2);
  });

  it('refuses a dimension the section does not have, naming it', async () => {
    const res = await h.app.inject({ method: 'GET', url: `/api/reports/money/records?${range}&section=credits&flavour=x`, headers: auth });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.problems[0]).toEqual({
      field: 'flavour',
      message: expect.stringMatching(/^not a dimension of money\.credits; expected some of: currency, /),
    });
  });
});

describe('grouping and refusals', () => {
  it('volume?group_by=kind,state groups by both', async () => {
    const res = await h.app.inject({ method: 'GET', url: `/api/reports/volume?${range}&group_by=kind,state`, headers: auth });
    const rows = sectionsOf(res.json() as Report).by_kind_state!;
    expect(rows).toContainEqual({ kind: 'service_credit', state: 'confirmed', records: 3 });
    expect(rows.reduce((s, r) => s + Number(r.records), 0)).toBe(11);
  });

  it('the other reports take their own dimensions: money by kind, turnaround and risk by month', async () => {
    const get = async (url: string) => {
      const res = await h.app.inject({ method: 'GET', url, headers: auth });
      expect([url, res.statusCode, res.statusCode === 200 ? '' : res.body]).toEqual([url, 200, '']);
      return sectionsOf(res.json() as Report);
    };
    const money = await get(`/api/reports/money?${range}&group_by=kind`);
    expect(money.credits).toEqual([
      { kind: 'service_credit', currency: 'EUR', records: 2, amount_minor: 6500, sla_outage_minor: 6500, sla_outage_share: 1 },
      { kind: 'service_credit', currency: 'JPY', records: 1, amount_minor: 1500, sla_outage_minor: 0, sla_outage_share: 0 },
    ]);
    expect(money.fees_charged).toEqual([{ kind: 'termination', currency: 'EUR', records: 1, amount_minor: 20000 }]);
    const turnaround = await get(`/api/reports/turnaround?${range}&group_by=month`);
    expect(turnaround.overall).toEqual([{ month: '2026-03', ...EXPECTED.turnaround!.overall![0] }]);
    const risk = await get(`/api/reports/risk?${range}&group_by=month`);
    expect(risk.credits_by_agent).toEqual(EXPECTED.risk!.credits_by_agent!.map((r) => ({ month: '2026-03', ...r })));
  });

  it('GET /api/reports lists the reports, their sections and dimensions', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/reports', headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json().reports).toContainEqual({ name: 'churn', group_by: ['subtype', 'agent'], sections: ['terminations', 'mrr_lost', 'notice', 'retention'] });
  });

  it('a range leaves out what happened outside it', async () => {
    const res = await h.app.inject({ method: 'GET', url: `/api/reports/money?from=2026-04-01&to=2026-04-30`, headers: auth });
    expect(sectionsOf(res.json() as Report).credits).toEqual([{ currency: 'EUR', records: 1, amount_minor: 999, sla_outage_minor: 999, sla_outage_share: 1 }]);
  });

  it.each([
    ['volume?from=2026-03-01', 422, { field: 'to', message: expect.stringMatching(/^is required/) }],
    ['volume?from=yesterday&to=2026-03-31', 422, { field: 'from', message: expect.stringMatching(/"yesterday" is not a date as YYYY-MM-DD/) }],
    ['volume?from=2026-03-31&to=2026-03-01', 422, { field: 'to', message: 'must be after from' }],
    [
      `money?${range}&group_by=flavour`,
      422,
      { field: 'group_by', message: 'flavour: not a dimension of the money report; expected some of: month, kind, agent, account' },
    ],
  ])('GET /api/reports/%s is refused, naming the problem', async (url, status, problem) => {
    const res = await h.app.inject({ method: 'GET', url: `/api/reports/${url}`, headers: auth });
    expect(res.statusCode).toBe(status);
    expect(res.json().error.problems).toContainEqual(problem);
  });

  it('an unknown report is a 404 listing the reports', async () => {
    const res = await h.app.inject({ method: 'GET', url: `/api/reports/fun?${range}`, headers: auth });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.message).toBe('No report "fun"; reports: volume, money, approvals, turnaround, churn, risk');
  });

  it('needs the API token', async () => {
    expect((await h.app.inject({ method: 'GET', url: `/api/reports/volume?${range}` })).statusCode).toBe(401);
    expect(
      (await h.app.inject({ method: 'GET', url: `/api/reports/volume/records?${range}&section=by_kind`, headers: { authorization: 'Bearer wrong' } }))
        .statusCode,
    ).toBe(401);
  });

  it('the CLI says what is wrong with its arguments and exits 2', async () => {
    const r = await runCli(['report', 'volume', '--from', 'soon', '--to', '2026-03-31'], { DATABASE_URL: t.url });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--from: "soon" is not a date/);
    expect((await runCli(['report', 'fun', '--from', '2026-03-01', '--to', '2026-03-31'], { DATABASE_URL: t.url })).code).toBe(2);
  });
});

it('a broken CLOCKS_FILE is a configuration error: the CLI exits 2 naming it', async () => {
  const r = await runCli(['report', 'turnaround', '--from', FIXTURE_RANGE.from, '--to', FIXTURE_RANGE.to], {
    DATABASE_URL: t.url,
    CLOCKS_FILE: '/nonexistent/clocks.json',
  });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/Invalid configuration:\n {2}- CLOCKS_FILE: cannot read the clocks file at \/nonexistent\/clocks\.json: ENOENT/);
});

describe('turnaround with a business calendar', () => {
  it('counts working time only toward the targets', async () => {
    // Mon–Fri 09:00–17:00 UTC: R7 (54 h on the wall clock) took 8 working hours, inside its 48.
    const calendar = {
      time_zone: 'UTC',
      days: ['mon', 'tue', 'wed', 'thu', 'fri'] as ('mon' | 'tue' | 'wed' | 'thu' | 'fri')[],
      open: '09:00',
      close: '17:00',
      holidays: [],
    };
    const { runReport } = await import('../../src/app/reports');
    const report = await runReport({ ...deps, clocks: { turnaround_hours: TARGETS, business_hours: calendar } }, 'turnaround', {
      from: FIXTURE_RANGE.from,
      to: FIXTURE_RANGE.to,
    });
    expect(report.target_clock).toBe('business');
    const s = sectionsOf(report);
    expect(s.overall![0]).toMatchObject({ confirmed: 7, within_target: 7, within_target_share: 1, within_48h: 6 });
    expect(s.by_kind!.find((r) => r.kind === 'service_credit')).toMatchObject({ within_target: 3, within_target_share: 1 });
  });
});
