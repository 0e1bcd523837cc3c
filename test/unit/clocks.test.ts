import fs from 'node:fs';
import path from 'node:path';
import { WorkingTime, handlingMs, parseClocks, zonedInstant } from '../../src/records/clocks';
import type { AppError } from '../../src/records/errors';
import type { BreakableJson } from '../helpers/builders';

const H = 3_600_000;
const ms = (iso: string) => Date.parse(iso);
const FILE = path.resolve(__dirname, '..', '..', 'config', 'clocks.example.json');
const example = (): BreakableJson => JSON.parse(fs.readFileSync(FILE, 'utf8')) as BreakableJson;
const berlin = {
  time_zone: 'Europe/Berlin',
  days: ['mon', 'tue', 'wed', 'thu', 'fri'] as ('mon' | 'tue' | 'wed' | 'thu' | 'fri')[],
  open: '09:00',
  close: '17:00',
  holidays: ['2026-12-25'],
};

describe('working time', () => {
  it('is wall-clock time without a calendar', () => {
    expect(new WorkingTime(null).elapsed(ms('2026-03-14T10:00:00Z'), ms('2026-03-16T10:00:00Z'))).toBe(48 * H);
  });

  it("counts only the opening hours of working days, in the calendar's time zone", () => {
    const w = new WorkingTime(berlin);
    // Friday 13 March 16:00 Berlin (15:00 UTC) to Monday 10:00 Berlin: 1 h + 1 h.
    expect(w.elapsed(ms('2026-03-13T15:00:00Z'), ms('2026-03-16T09:00:00Z'))).toBe(2 * H);
    // A whole week: five days of eight hours.
    expect(w.elapsed(ms('2026-03-09T00:00:00Z'), ms('2026-03-16T00:00:00Z'))).toBe(40 * H);
  });

  it('follows daylight saving time (Berlin moves to UTC+2 on 29 March 2026)', () => {
    expect(zonedInstant('Europe/Berlin', 2026, 3, 27, 9, 0)).toBe(ms('2026-03-27T08:00:00Z'));
    expect(zonedInstant('Europe/Berlin', 2026, 3, 30, 9, 0)).toBe(ms('2026-03-30T07:00:00Z'));
    const w = new WorkingTime(berlin);
    expect(w.elapsed(ms('2026-03-27T07:00:00Z'), ms('2026-03-30T16:00:00Z'))).toBe(16 * H);
  });

  it('skips holidays', () => {
    const w = new WorkingTime(berlin);
    // Thursday 24 to Monday 28 December 2026, the 25th a holiday: Thursday and Monday only.
    expect(w.elapsed(ms('2026-12-24T00:00:00Z'), ms('2026-12-29T00:00:00Z'))).toBe(16 * H);
  });

  it('gives the same answer whatever was measured before (the built span only grows)', () => {
    const w = new WorkingTime(berlin);
    const a = w.elapsed(ms('2026-06-01T00:00:00Z'), ms('2026-06-08T00:00:00Z'));
    w.elapsed(ms('2025-01-01T00:00:00Z'), ms('2025-01-02T00:00:00Z'));
    w.elapsed(ms('2027-01-01T00:00:00Z'), ms('2027-01-02T00:00:00Z'));
    expect(w.elapsed(ms('2026-06-01T00:00:00Z'), ms('2026-06-08T00:00:00Z'))).toBe(a);
    expect(a).toBe(40 * H);
  });

  it('handling time leaves out the scheduled wait', () => {
    const w = new WorkingTime(null);
    expect(handlingMs(w, ms('2026-03-03T08:00:00Z'), ms('2026-03-10T01:00:00Z'), [[ms('2026-03-03T12:00:00Z'), ms('2026-03-10T00:00:00Z')]])).toBe(5 * H);
  });
});

describe('the clocks file', () => {
  it('parses the example with its defaults', () => {
    const c = parseClocks(example(), FILE);
    expect(c.turnaround_hours.service_credit).toBe(48);
    expect(c.failed_after_hours).toBe(1);
    expect(c.business_hours).toBeUndefined();
  });

  it.each([
    ['a kind without a target', (j: BreakableJson) => delete j.turnaround_hours.upgrade, /^turnaround_hours\.upgrade: /],
    [
      'a time zone that does not exist',
      (j: BreakableJson) => (j.business_hours = { ...berlin, time_zone: 'Mars/Olympus' }),
      /^business_hours\.time_zone: expected an IANA time zone/,
    ],
    ['closing before opening', (j: BreakableJson) => (j.business_hours = { ...berlin, open: '18:00' }), /^business_hours\.close: close must be after open/],
    ['a negative target', (j: BreakableJson) => (j.draft_hours.upgrade = -1), /^draft_hours\.upgrade: expected a draft target in hours > 0/],
  ])('refuses %s, naming the path', (_what, change, pattern) => {
    const json = example();
    change(json);
    let problems: string[] = [];
    try {
      parseClocks(json, 'clocks.json');
    } catch (e) {
      problems = (e as AppError).problems.map((p) => `${p.field}: ${p.message}`);
    }
    expect(problems.some((p) => pattern.test(p))).toBe(true);
  });
});
