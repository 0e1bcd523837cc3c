import fs from 'node:fs';
import path from 'node:path';
import { allowedReasons, allReasonCodes, parseReasons, reasonProblem, zendeskReasonOptions } from '../../src/records/reasons';
import type { ReasonTaxonomy } from '../../src/records/reasons';
import type { BreakableJson } from '../helpers/builders';
import { ticketTags } from '../../src/app/ticket-view';
import { mapTicket } from '../../src/integrations/zendesk/zendesk.mapper';
import { parseFieldMap } from '../../src/integrations/zendesk/field-map';
import type { AppError } from '../../src/records/errors';
import type { TicketSnapshot } from '../../src/integrations/zendesk/payload';

const FILE = path.resolve(__dirname, '..', '..', 'config', 'reasons.example.json');
const exampleJson = (): Record<string, unknown> => JSON.parse(fs.readFileSync(FILE, 'utf8')) as Record<string, unknown>;
const example = (): ReasonTaxonomy => parseReasons(exampleJson(), FILE);

const problemsOf = (json: unknown): string[] => {
  try {
    parseReasons(json, 'reasons.json');
  } catch (e) {
    return (e as AppError).problems.map((p) => `${p.field}: ${p.message}`);
  }
  throw new Error('expected the file to be refused');
};

describe('the reason taxonomy file', () => {
  it("parses the example, which lists the issue's downgrade and termination reasons", () => {
    const t = example();
    expect(allowedReasons(t, 'downgrade', 'subscription').map((o) => o.code)).toEqual(
      expect.arrayContaining(['price', 'unused_features', 'budget_cut', 'dissatisfaction', 'switched_to_competitor']),
    );
    expect(allowedReasons(t, 'termination', 'non_payment').map((o) => o.code)).toEqual(
      expect.arrayContaining(['price', 'switched_to_competitor', 'business_closed', 'non_payment']),
    );
    expect(allowedReasons(t, 'termination', 'breach').map((o) => o.code)).toContain('breach');
  });

  it("adds a subtype's own codes to the kind's, for that subtype only", () => {
    const t = example();
    expect(allowedReasons(t, 'termination', 'non_payment').map((o) => o.code)).toContain('non_payment');
    expect(allowedReasons(t, 'termination', 'customer_initiated').map((o) => o.code)).not.toContain('non_payment');
  });

  it.each([
    ['a missing kind', (j: Record<string, unknown>) => delete j.upgrade, /^upgrade: is required/],
    [
      'a code that cannot be a tag',
      (j: BreakableJson) => (j.downgrade.codes['Too Expensive'] = 'x'),
      /^downgrade\.codes\.Too Expensive: expected a code of lowercase/,
    ],
    [
      'an unknown subtype',
      (j: BreakableJson) => (j.termination.subtypes.bankrupt = { gone: 'Gone' }),
      /^termination\.subtypes\.bankrupt: unknown termination subtype/,
    ],
    ['an empty label', (j: BreakableJson) => (j.upgrade.codes.growth = ' '), /^upgrade\.codes\.growth: a label is required/],
    [
      'a code listed twice',
      (j: BreakableJson) => (j.termination.subtypes.breach.price = 'Price'),
      /^termination\.subtypes\.breach\.price: already a code of every termination/,
    ],
    ['an unknown top-level key', (j: BreakableJson) => (j.refund = {}), /unknown|Unrecognized/i],
  ])('refuses %s, naming the path', (_what, change, pattern) => {
    const json = exampleJson();
    change(json);
    expect(problemsOf(json).some((p) => pattern.test(p))).toBe(true);
  });
});

describe("checking a request's reason", () => {
  it('accepts an allowed code', () => {
    expect(reasonProblem(example(), 'downgrade', 'subscription', 'price')).toBeNull();
  });

  it('names an unknown code and lists the allowed ones for the kind and subtype', () => {
    const p = reasonProblem(example(), 'termination', 'non_payment', 'moving_on');
    expect(p).toEqual({
      field: 'reason_code',
      message:
        '"moving_on" is not a reason for a termination (non_payment); expected one of: price, unused_features, budget_cut, dissatisfaction, switched_to_competitor, business_closed, other, non_payment',
    });
  });

  it('lists the allowed codes when the reason is missing', () => {
    expect(reasonProblem(example(), 'upgrade', 'subscription', undefined)!.message).toBe(
      'is required; for a upgrade (subscription) expected one of: growth, new_features, more_support, compliance, other',
    );
  });

  it('leaves an unknown kind to the request schema', () => {
    expect(reasonProblem(example(), 'refund', 'x', 'price')).toBeNull();
  });
});

describe('the ticket and the Zendesk drop-down', () => {
  it('tags the ticket lifecycle_reason_<code> and takes the other reason tags off', () => {
    const codes = allReasonCodes(example());
    const tags = ticketTags({ kind: 'downgrade', state: 'submitted', reason_code: 'price', problems: [] }, codes);
    expect(tags.add).toEqual(['lifecycle_downgrade', 'lifecycle_submitted', 'lifecycle_reason_price']);
    expect(tags.remove).toContain('lifecycle_reason_budget_cut');
    expect(tags.remove).not.toContain('lifecycle_reason_price');
  });

  it('gives a draft whose reason is unknown no reason tag', () => {
    const tags = ticketTags({ kind: 'downgrade', state: 'draft', reason_code: 'moving_on', problems: [{ field: 'reason_code', message: 'unknown' }] }, [
      'price',
    ]);
    expect(tags.add).toEqual(['lifecycle_downgrade', 'lifecycle_draft']);
  });

  it('prints one drop-down option per code, tagged with the reason prefix', () => {
    const options = zendeskReasonOptions(example(), 'lc_reason_');
    expect(options).toContainEqual({ name: 'Switched to a competitor', value: 'lc_reason_switched_to_competitor' });
    expect(new Set(options.map((o) => o.value)).size).toBe(options.length);
  });

  it("reads the reason drop-down's lc_reason_<code> as the code, and an older lc_<code> too", () => {
    const map = parseFieldMap(JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'config', 'field-map.example.json'), 'utf8')), 'field-map.json');
    const ticket = (reason: string): TicketSnapshot => ({
      id: '1',
      subject: 's',
      tags: [],
      requester: null,
      assignee_email: null,
      updated_at: null,
      fields: new Map([
        ['360001000001', 'lc_downgrade'],
        ['360001000004', reason],
      ]),
    });
    const reasonOf = (reason: string) => {
      const m = mapTicket(ticket(reason), map);
      return m.relevant ? m.request.reason_code : undefined;
    };
    expect(reasonOf('lc_reason_switched_to_competitor')).toBe('switched_to_competitor');
    expect(reasonOf('lc_budget_cut')).toBe('budget_cut');
  });
});
