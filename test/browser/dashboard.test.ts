/// <reference lib="dom" />
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { startTestService, TEST_API_TOKEN } from '../helpers/service';
import type { TestService } from '../helpers/service';
import { RID, seedReportFixture } from '../fixtures/reports.fixture';

/**
 * The dashboard in Debian's Chromium (headless, no browser download): it renders, a date-range
 * change updates the charts, a number opens its records, and a record its account's timeline.
 * DASHBOARD_SCREENSHOT=docs/dashboard.png also writes the README's screenshot.
 */

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

let t: TestDb;
let s: TestService;
let browser: Browser;
let page: Page;
const requested: string[] = [];
const problems: string[] = [];

beforeAll(async () => {
  t = await createTestDb();
  await seedReportFixture(t.db, t.admin);
  // An incident with one batch (no credits): the Incidents card lists it with its totals.
  const incidentId = '0b6e0f3c-1c1d-4e5f-8a9b-0c1d2e3f4a5b';
  await t.admin('incidents').insert({
    id: incidentId,
    reference: 'INC-DASH',
    starts_at: '2026-03-10T00:00:00Z',
    ends_at: '2026-03-10T06:00:00Z',
    service: 'Search',
    reason_code: 'outage',
    created_by: 'agent@support.example',
    created_at: '2026-04-05T00:00:00Z',
    updated_at: '2026-04-05T00:00:00Z',
  });
  await t.admin('incident_batches').insert({
    id: '1b6e0f3c-1c1d-4e5f-8a9b-0c1d2e3f4a5b',
    incident_id: incidentId,
    seq: 1,
    status: 'pending',
    approvals_required: 1,
    approvers: JSON.stringify({ user_ids: ['U0LDSUP01'], user_groups: [] }),
    summary: JSON.stringify({
      accounts: 2,
      totals: [
        { amount_minor: 1980, currency: 'EUR' },
        { amount_minor: 4500, currency: 'JPY' },
      ],
      largest: [],
      flagged_count: 0,
      flagged: [],
    }),
    requested_by: 'agent@support.example',
    created_at: '2026-04-05T00:00:00Z',
  });
  s = await startTestService(t, { web: true, worker: false });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on('request', (r) => requested.push(r.url()));
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => void (m.type() === 'error' && problems.push(m.text())));
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await s?.close();
  await t?.destroy();
});

const chartData = (name: string) =>
  page.evaluate((n) => {
    const chart = (
      window as unknown as { Chart: { getChart(c: Element): { data: { labels: unknown[]; datasets: { data: unknown[] }[] } } | undefined } }
    ).Chart.getChart(document.getElementById(`chart-${n}`)!);
    return chart ? { labels: chart.data.labels, data: chart.data.datasets.map((d) => d.data) } : null;
  }, name);

async function showRange(from: string, to: string): Promise<void> {
  await page.fill('#from', from);
  await page.fill('#to', to);
  await page.click('#range button[type=submit]');
  await page.waitForSelector(`body[data-loaded="${from}..${to}"]`);
}

it('asks for the token, then renders every report with Chart.js served by the service', async () => {
  await page.goto(`${s.base}/dashboard`);
  await page.waitForSelector('#login:not([hidden])');
  await page.fill('#token', TEST_API_TOKEN);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('body[data-loaded]:not([data-loaded=""])');
  for (const name of ['volume', 'money', 'approvals', 'turnaround', 'churn', 'risk']) expect(await page.isVisible(`#chart-${name}`)).toBe(true);
  const incident = (await page.textContent('#incidents tr[data-incident="INC-DASH"]'))!;
  expect(incident).toContain('Search');
  expect(incident).toMatch(/€19\.80.*¥4,500/);
  expect(await page.evaluate(() => sessionStorage.getItem('lifecycle-desk.api-token'))).toBe(TEST_API_TOKEN);
  // Everything came from the service itself: no CDN.
  expect(requested.filter((u) => !u.startsWith(s.base))).toEqual([]);
  expect(requested).toContain(`${s.base}/dashboard/vendor/chart.umd.min.js`);
});

it('a date-range change updates the charts', async () => {
  await showRange('2026-03-01', '2026-03-31');
  expect(await chartData('volume')).toEqual({ labels: ['downgrade', 'service_credit', 'termination', 'upgrade'], data: [[2, 4, 3, 2]] });
  expect(await chartData('risk')).toEqual({ labels: ['agent_credit_volume', 'credit_above_mrr_share', 'unknown_requester'], data: [[3, 1, 1]] });
  // 1–10 March: R1, R2, R3, R4, R5.
  await showRange('2026-03-01', '2026-03-10');
  expect(await chartData('volume')).toEqual({ labels: ['downgrade', 'service_credit', 'termination', 'upgrade'], data: [[1, 1, 2, 1]] });
  await showRange('2026-03-01', '2026-03-31');
});

it("a number opens the records behind it, and a record its account's timeline", async () => {
  // Money → service credits → the EUR row's record count.
  await page.click('#report-money table[data-section="credits"] tbody tr:first-child button[data-measure="records"]');
  await page.waitForSelector('#drill:not([hidden])');
  const ids = await page.$$eval('#drill-table tbody tr', (rows) => rows.map((r) => (r as HTMLElement).dataset.record));
  expect(ids.sort()).toEqual([RID.R5, RID.R6].sort());
  expect(await page.textContent('#drill-summary')).toMatch(/^2 record\(s\)/);

  await page.click(`#drill-table tbody tr[data-record="${RID.R6}"] td:first-child button`);
  await page.waitForSelector('#timeline:not([hidden])');
  expect(await page.textContent('#timeline-title')).toBe('Account acc_b — Beta');
  const mine = await page.$$eval('#timeline-events li.mine', (items) => items.map((i) => i.querySelector('strong')!.textContent));
  expect(mine).toEqual(['record.confirm', 'record.mark_applied', 'record.start_apply', 'record.approve', 'record.request_approval', 'record.created']);

  const shot = process.env.DASHBOARD_SCREENSHOT ? path.resolve(process.env.DASHBOARD_SCREENSHOT) : path.join(os.tmpdir(), `dashboard-${process.pid}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  expect(problems).toEqual([]);
});

it('a refused token sends the user back to the token form', async () => {
  await page.evaluate(() => sessionStorage.setItem('lifecycle-desk.api-token', 'not-the-token-0123456789'));
  await page.click('#range button[type=submit]');
  await page.waitForSelector('#login:not([hidden])');
  expect(await page.textContent('#login-error')).toBe('The API refused this token; enter it again.');
  expect(await page.evaluate(() => sessionStorage.getItem('lifecycle-desk.api-token'))).toBeNull();
});
