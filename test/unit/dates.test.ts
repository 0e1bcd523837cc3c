import { DATE_INPUT_HINT, parseDateInput, startOfNextDay } from '../../src/records/dates';
import { RecordRequestSchema } from '../../src/records/kinds';
import { problemsFromZod } from '../../src/records/problems';
import { buildRequest } from '../helpers/builders';

describe('parseDateInput: YYYY-MM-DD or an ISO 8601 timestamp, everywhere', () => {
  it('takes a date as that UTC day', () => {
    expect(parseDateInput('2026-05-01')).toEqual({ date: '2026-05-01', instant: '2026-05-01T00:00:00.000Z', dateOnly: true });
    expect(parseDateInput(' 2028-02-29 ')).toMatchObject({ date: '2028-02-29' });
  });

  it('takes a timestamp with Z or an offset as its instant, and its UTC day as the date', () => {
    expect(parseDateInput('2026-05-01T00:00:00Z')).toEqual({ date: '2026-05-01', instant: '2026-05-01T00:00:00.000Z', dateOnly: false });
    expect(parseDateInput('2026-05-01T01:30:00+02:00')).toEqual({ date: '2026-04-30', instant: '2026-04-30T23:30:00.000Z', dateOnly: false });
    expect(parseDateInput('2026-05-01T22:00-0300')).toMatchObject({ date: '2026-05-02', instant: '2026-05-02T01:00:00.000Z' });
    expect(parseDateInput('2026-05-01T10:00:00.123456Z')).toMatchObject({ instant: '2026-05-01T10:00:00.123Z' });
  });

  it('refuses what is not a real day or has no offset', () => {
    for (const bad of [
      '2026-02-30',
      '2026-13-01',
      '2026-5-1',
      '01.05.2026',
      'yesterday',
      '2026-05-01T10:00:00',
      '2026-05-01T25:00:00Z',
      '2026-05-01T10:00:00+25:00',
      '',
    ]) {
      expect(parseDateInput(bad)).toBeNull();
    }
  });

  it('closes an inclusive date at the start of the next day', () => {
    expect(startOfNextDay('2026-12-31')).toBe('2027-01-01T00:00:00.000Z');
  });
});

describe('requests accept both forms and say so in one voice', () => {
  it('accepts timestamps for date fields and dates for instants', () => {
    const credit = buildRequest('service_credit', {
      effective: '2026-05-01T00:00:00Z',
      details: { period_start: '2026-03-10', period_end: '2026-03-10', requested_credit: { amount_minor: 100, currency: 'EUR' } },
    });
    expect(credit.effective).toBe('2026-05-01');
    // "Affected until 10 March" includes the 10th.
    expect(credit.details).toMatchObject({ period_start: '2026-03-10T00:00:00.000Z', period_end: '2026-03-11T00:00:00.000Z' });
    const termination = buildRequest('termination', { details: { termination_date: '2026-06-30T12:00:00Z' } });
    expect(termination.details.termination_date).toBe('2026-06-30');
  });

  it('names the same two forms whether a date is missing, malformed or in the wrong field', () => {
    const problems = problemsFromZod(
      RecordRequestSchema.safeParse({
        kind: 'service_credit',
        subtype: 'goodwill',
        account_id: 'acc_acme',
        requested_by: 'agent_1',
        reason_code: 'outage',
        effective: '1 May',
        details: { period_start: 'yesterday', requested_credit: { amount_minor: 100, currency: 'EUR' } },
      }).error!,
    );
    expect(problems.map((p) => p.field).sort()).toEqual(['details.period_end', 'details.period_start', 'effective']);
    for (const p of problems) expect(p.message).toContain(DATE_INPUT_HINT);
  });
});
