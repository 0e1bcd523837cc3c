import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EmailOutcome } from '../../src/app/record-events';
import { EMAIL_OUTCOMES, EmailTemplates, catalogDisplayNames, emailVariables, humanDate, singleLine } from '../../src/integrations/email/templates';
import type { EmailView } from '../../src/integrations/email/templates';
import { KINDS } from '../../src/records/kinds';
import type { Kind, LifecycleRecord } from '../../src/records/kinds';
import type { Money } from '../../src/records/money';
import type { ConfirmedMoney } from '../../src/records/billing';
import type { ConfirmedAdjustment } from '../../src/records/ports';
import { buildCatalog } from '../helpers/builders';

const SHIPPED = path.resolve(__dirname, '..', '..', 'templates', 'email');
/** As main.ts would pass them from the catalog. */
const NAMES = {
  free: 'Free',
  starter: 'Starter',
  growth: 'Growth',
  business: 'Business',
  standard: 'Standard',
  priority: 'Priority',
  sso: 'Single sign-on',
  analytics: 'Analytics',
};

const eur = (amount_minor: number): Money => ({ amount_minor, currency: 'EUR' });
const jpy = (amount_minor: number): Money => ({ amount_minor, currency: 'JPY' });

/** One applied record of each kind, EUR unless overridden; amounts as validation computes them. */
function buildRecord(kind: Kind, overrides: Partial<LifecycleRecord> = {}): LifecycleRecord {
  const byKind: Record<Kind, Pick<LifecycleRecord, 'subtype' | 'amount' | 'details' | 'effective' | 'effective_at'>> = {
    downgrade: {
      subtype: 'subscription',
      effective: 'end_of_term',
      effective_at: '2026-04-01T00:00:00Z',
      amount: eur(-7000),
      details: { from_plan: 'growth', to_plan: 'starter', features: ['sso', 'analytics'], price_delta: eur(-7000) },
    },
    upgrade: {
      subtype: 'subscription',
      effective: 'immediate',
      effective_at: '2026-03-16T12:00:00Z',
      amount: eur(9677),
      details: {
        from_plan: 'growth',
        to_plan: 'business',
        price_delta: eur(20000),
        proration: {
          period_start: '2026-03-01T00:00:00Z',
          period_end: '2026-04-01T00:00:00Z',
          change_at: '2026-03-16T12:00:00Z',
          credit: eur(-4790),
          charge: eur(14467),
          net: eur(9677),
        },
      },
    },
    termination: {
      subtype: 'customer_initiated',
      effective: '2026-04-01',
      effective_at: '2026-04-01T00:00:00Z',
      amount: eur(50000),
      details: { notice_period_days: 30, termination_date: '2026-04-01', early_termination_fee: eur(50000), fee_waived: false },
    },
    status_change: {
      subtype: 'suspension',
      effective: 'immediate',
      effective_at: '2026-03-16T12:00:00Z',
      amount: null,
      details: { status_before: 'active', status_after: 'suspended', suspension: { cause: 'unpaid invoices', review_date: '2026-04-15' } },
    },
    service_credit: {
      subtype: 'outage',
      effective: 'immediate',
      effective_at: '2026-03-16T12:00:00Z',
      amount: eur(-1234),
      details: { incident_reference: 'INC-42', period_start: '2026-03-10T00:00:00Z', period_end: '2026-03-11T00:00:00Z', requested_credit: eur(1234) },
    },
  };
  return {
    id: 'rec_0001',
    kind,
    account_id: 'acc_acme',
    ticket_id: '123',
    requested_by: 'agent@support.example',
    requester: { email: 'jane@acme.example', name: 'Jane' },
    reason_code: 'customer_request',
    reason_text: '',
    state: 'applied',
    version: 4,
    risk_flags: [],
    problems: [],
    created_at: '2026-03-16T12:00:00Z',
    updated_at: '2026-03-16T12:00:00Z',
    ...byKind[kind],
    ...overrides,
  };
}

const PRICES: Record<string, number> = { starter: 2900, growth: 9900, business: 29900 };

/**
 * What a billing provider would have confirmed for the record, in the record's own amounts (tests
 * that need the provider to differ pass `billing` themselves).
 */
function confirmedFor(record: LifecycleRecord): ConfirmedAdjustment[] {
  const d = record.details as Record<string, unknown>;
  const cur = record.amount?.currency ?? 'EUR';
  const one = (effect: ConfirmedAdjustment['effect'], result: Omit<ConfirmedAdjustment['result'], 'providerRef'>, step = 'apply'): ConfirmedAdjustment => ({
    idempotency_key: `billing.${record.id}.${step}`,
    step,
    effect,
    result: { providerRef: 'test', ...result },
  });
  switch (record.kind) {
    case 'upgrade':
    case 'downgrade': {
      if (typeof d.to_plan !== 'string') return [];
      const p = d.proration as { credit: Money; charge: Money; net: Money } | undefined;
      const price = { amount_minor: PRICES[d.to_plan] ?? 0, currency: cur };
      const effect = {
        type: 'plan_change' as const,
        to_plan: d.to_plan,
        from_plan: String(d.from_plan),
        prorate: !!p,
        at: record.effective_at!,
        price,
        proration: p ?? null,
      };
      const money: ConfirmedMoney[] = p
        ? [
            { type: 'credit', purpose: 'proration', amount: { ...p.credit, amount_minor: -p.credit.amount_minor }, destination: 'invoice' },
            { type: 'charge', purpose: 'proration', amount: p.charge, destination: 'invoice' },
          ]
        : [];
      return [one(effect, { money, price }, record.state === 'scheduled' ? 'schedule' : 'apply')];
    }
    case 'termination':
      return record.amount && record.amount.amount_minor > 0
        ? [one({ type: 'fee', amount: record.amount }, { money: [{ type: 'charge', purpose: 'fee', amount: record.amount, destination: 'invoice' }] }, 'fee')]
        : [];
    case 'service_credit': {
      const amount = { amount_minor: -(record.amount?.amount_minor ?? 0), currency: cur };
      return [
        one(
          { type: 'credit', amount, period_start: String(d.period_start), period_end: String(d.period_end), paid_invoice: 'credit' },
          { money: [{ type: 'credit', purpose: 'service_credit', amount, destination: 'balance' }] },
        ),
      ];
    }
    default:
      return [];
  }
}

function buildView(record: LifecycleRecord, overrides: Partial<EmailView> = {}): EmailView {
  const billing = overrides.billing ?? (record.state === 'scheduled' || record.state === 'applied' ? confirmedFor(record) : []);
  return {
    record,
    account: { id: 'acc_acme', name: 'Acme GmbH', currency: record.amount?.currency ?? 'EUR' },
    ticketId: record.ticket_id,
    reason: null,
    ...overrides,
    billing,
  };
}

let templates: EmailTemplates;
const tmpDirs: string[] = [];

/** A copy of the shipped templates in a temp dir, with `files` written over it (null deletes). */
function templatesDirWith(files: Record<string, string | null>, { keep = () => true }: { keep?: (name: string) => boolean } = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'email-templates-'));
  tmpDirs.push(dir);
  for (const f of fs.readdirSync(SHIPPED)) if (keep(f)) fs.copyFileSync(path.join(SHIPPED, f), path.join(dir, f));
  for (const [name, body] of Object.entries(files)) {
    if (body === null) fs.rmSync(path.join(dir, name), { force: true });
    else fs.writeFileSync(path.join(dir, name), body);
  }
  return dir;
}

beforeAll(() => {
  // Strict: a typo'd variable in a shipped template fails here instead of rendering empty.
  templates = EmailTemplates.load(SHIPPED, { strictVariables: true, displayNames: NAMES });
});

afterAll(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('every kind and outcome renders from the shipped templates', () => {
  const cases = KINDS.flatMap((kind) => EMAIL_OUTCOMES.map((outcome) => [kind, outcome] as [Kind, EmailOutcome]));

  it.each(cases)('%s / %s: one-line subject with the ticket, text and html with account, change and date', (kind, outcome) => {
    const { subject, text, html } = templates.render(
      outcome,
      buildView(buildRecord(kind), { reason: outcome === 'rejected' ? 'Outside the contract terms' : null }),
    );
    expect(subject).not.toMatch(/[\r\n]/);
    expect(subject.length).toBeGreaterThan(10);
    expect(subject).toContain('(Ticket #123)');
    for (const body of [text, html]) {
      expect(body).toContain('Acme GmbH');
      expect(body).toContain('Ticket #123');
      expect(body).toContain('Hello Jane,');
      expect(body).not.toMatch(/\{\{|\{%|undefined|NaN|\[object Object\]/);
    }
    // A rejected or withdrawn change never takes effect, so no date is named.
    if (outcome !== 'rejected' && outcome !== 'cancelled') expect(text).toMatch(/\d{1,2} (March|April) 2026/);
    if (outcome === 'cancelled') expect(text).toContain('will not take place');
    if (outcome === 'rejected') {
      expect(text).toContain('Outside the contract terms');
      expect(html).toContain('Outside the contract terms');
    }
    expect(text).not.toMatch(/<\/?[a-z]+[^>]*>/i);
    expect(text).not.toMatch(/\n{3,}/);
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).toContain('</html>');
  });
});

describe('content of the main emails', () => {
  it('downgrade scheduled: plan names, the date and the new price the provider confirmed', () => {
    const { subject, text, html } = templates.render('scheduled', buildView(buildRecord('downgrade', { state: 'scheduled' })));
    expect(subject).toBe('Your plan downgrade is scheduled for 1 April 2026 (Ticket #123)');
    expect(text).toContain('Plan change from Growth to Starter');
    expect(text).toContain('will take effect on 1 April 2026');
    expect(text).toContain('these are no longer included: Single sign-on, Analytics');
    expect(text).toContain('From that date, your price is €29.00 per billing period.');
    expect(html).toContain('your price is <strong>€29.00</strong> per billing period');
    // A provider that has not been told yet (the ledger schedules nothing in advance): no price stated.
    const untold = templates.render('scheduled', buildView(buildRecord('downgrade', { state: 'scheduled' }), { billing: [] }));
    expect(`${untold.text}${untold.html}`).not.toMatch(/€/);
  });

  it('downgrade applied says it is done and names the new plan', () => {
    const { subject, text } = templates.render('applied', buildView(buildRecord('downgrade')));
    expect(subject).toBe('Your plan downgrade is complete: you are now on Starter (Ticket #123)');
    expect(text).toContain('took effect on 1 April 2026');
  });

  it('upgrade applied with proration: a prorated one-off charge, not a price change', () => {
    const { subject, text } = templates.render('applied', buildView(buildRecord('upgrade')));
    expect(subject).toBe('Your plan upgrade is live: welcome to Business (Ticket #123)');
    expect(text).toContain('a prorated charge of €96.77 appears on your next invoice');
    expect(text).toMatch(/Charge: +€96\.77 \(prorated\)/);
    expect(text).toContain('took effect on 16 March 2026');
  });

  it('upgrade scheduled in JPY: yen without decimals', () => {
    const record = buildRecord('upgrade', {
      state: 'scheduled',
      effective: 'end_of_term',
      effective_at: '2026-04-01T00:00:00Z',
      amount: jpy(30000),
      details: { from_plan: 'growth', to_plan: 'business', price_delta: jpy(30000) },
    });
    const { subject, text, html } = templates.render(
      'scheduled',
      buildView(record, { billing: confirmedFor(record).map((c) => ({ ...c, result: { ...c.result, price: jpy(45000) } })) }),
    );
    expect(subject).toBe('Your plan upgrade is scheduled for 1 April 2026 (Ticket #123)');
    expect(text).toContain('your price is ¥45,000 per billing period');
    expect(html).toContain('¥45,000');
    expect(`${text}${html}`).not.toMatch(/¥[\d,]+\.\d/);
  });

  it('termination scheduled: the closing date, and no fee or refund before the provider has made it', () => {
    const record = buildRecord('termination', {
      state: 'scheduled',
      details: { termination_date: '2026-04-01', early_termination_fee: eur(50000), fee_waived: false, refund: eur(1000) },
    });
    const { subject, text, html } = templates.render('scheduled', buildView(record, { billing: [] }));
    expect(subject).toBe('Your cancellation is confirmed: Acme GmbH closes on 1 April 2026 (Ticket #123)');
    expect(text).toContain('It closes on 1 April 2026');
    expect(text).toContain('We will confirm any final charges or refunds when the account closes.');
    expect(`${text}${html}`).not.toMatch(/€|refund of|fee of/);
  });

  it('termination applied: the fee and refund the provider confirmed, in its amounts, and the balance it reports', () => {
    const record = buildRecord('termination', {
      details: { termination_date: '2026-04-01', early_termination_fee: eur(50000), fee_waived: false, refund: eur(1000) },
    });
    const fee: ConfirmedAdjustment = {
      idempotency_key: 'billing.rec_0001.fee',
      step: 'fee',
      effect: { type: 'fee', amount: eur(50000) },
      result: { providerRef: 'stripe:in_1', money: [{ type: 'charge', purpose: 'fee', amount: eur(49990), destination: 'invoice' }], outstanding: eur(49990) },
    };
    const refund: ConfirmedAdjustment = {
      idempotency_key: 'billing.rec_0001.refund',
      step: 'refund',
      effect: { type: 'refund', amount: eur(1000) },
      result: {
        providerRef: 'stripe:cn_1',
        money: [{ type: 'refund', purpose: 'termination_refund', amount: eur(1000), destination: 'payment' }],
        outstanding: eur(49990),
      },
    };
    const both = templates.render('applied', buildView(record, { billing: [fee, refund] }));
    expect(both.text).toContain('an early-termination fee of €499.90 has been invoiced');
    expect(both.text).toContain('A refund of €10.00 has been issued to your payment method.');
    expect(both.text).toContain('An outstanding balance of €499.90 remains due.');
    expect(both.html).toContain('A refund of <strong>€10.00</strong> has been issued');
    // The provider refused the refund: the email does not promise it.
    const refused = templates.render('applied', buildView(record, { billing: [fee] }));
    expect(`${refused.text}${refused.html}`).not.toMatch(/refund/i);
    expect(refused.text).toContain('€499.90 has been invoiced');
  });

  it('termination with the fee waived says so and charges nothing', () => {
    const record = buildRecord('termination', {
      subtype: 'non_payment',
      amount: eur(0),
      details: { termination_date: '2026-04-01', early_termination_fee: eur(50000), fee_waived: true },
    });
    const { subject, text } = templates.render('applied', buildView(record));
    expect(subject).toBe('Your account Acme GmbH has been closed (Ticket #123)');
    expect(text).toContain('The early-termination fee has been waived.');
    expect(text).not.toMatch(/€/);
    expect(text).not.toMatch(/Charge:/);
  });

  it('status change applied: suspension with its review date', () => {
    const { subject, text } = templates.render('applied', buildView(buildRecord('status_change')));
    expect(subject).toBe('Your account Acme GmbH has been suspended (Ticket #123)');
    expect(text).toContain('We will review the suspension on 15 April 2026.');
    expect(text).toContain('Account status change from active to suspended');
  });

  it('status change applied: closure with the data-retention date', () => {
    const record = buildRecord('status_change', {
      subtype: 'closure',
      details: { status_before: 'active', status_after: 'closed', data_retention_until: '2026-06-30' },
    });
    const { subject, text } = templates.render('applied', buildView(record));
    expect(subject).toBe('Your account Acme GmbH has been closed (Ticket #123)');
    expect(text).toContain('We keep your data until 30 June 2026');
  });

  it('service credit in EUR: a credit of €12.34 for the affected day', () => {
    const { subject, text, html } = templates.render('credit_granted', buildView(buildRecord('service_credit')));
    expect(subject).toBe('A credit of €12.34 has been applied to your account (Ticket #123)');
    expect(text).toContain('We are sorry for the outage that affected your service on 10 March 2026 (incident INC-42).');
    expect(text).toContain('We have applied a credit of €12.34 to your account Acme GmbH.');
    expect(text).toMatch(/Credit: +€12\.34/);
    expect(html).toContain('a credit of <strong>€12.34</strong>');
  });

  it('service credit in JPY: a credit of ¥1,500', () => {
    const record = buildRecord('service_credit', {
      amount: jpy(-1500),
      details: { period_start: '2026-03-10T00:00:00Z', period_end: '2026-03-12T00:00:00Z', requested_credit: jpy(1500) },
    });
    const { subject, text } = templates.render('credit_granted', buildView(record, { account: { id: 'acc_jp', name: '株式会社サンプル', currency: 'JPY' } }));
    expect(subject).toBe('A credit of ¥1,500 has been applied to your account (Ticket #123)');
    expect(text).toContain('a credit of ¥1,500 to your account 株式会社サンプル');
    expect(text).toContain('10 March 2026 to 11 March 2026');
  });

  it('rejected: the supervisor reason and reassurance that nothing changed', () => {
    const { subject, text } = templates.render(
      'rejected',
      buildView(buildRecord('downgrade', { state: 'rejected' }), { reason: 'Minimum term runs until June' }),
    );
    expect(subject).toBe('About your plan downgrade request (Ticket #123)');
    expect(text).toContain('The reason: Minimum term runs until June');
    expect(text).toContain('Nothing has changed on your account');
  });

  it('no ticket, no requester name, effective at the end of term without a date yet', () => {
    const record = buildRecord('downgrade', { ticket_id: null, requester: null, effective_at: null });
    const { subject, text } = templates.render('scheduled', buildView(record, { ticketId: null }));
    expect(subject).toBe('Your plan downgrade is scheduled');
    expect(text).toMatch(/^Hello,/);
    expect(text).toContain('at the end of your current billing term');
    expect(text).not.toContain('Ticket #');
  });
});

describe('escaping', () => {
  const hostile = '<script>alert(1)</script>';

  it('escapes a hostile account name and reason in HTML but leaves the text part literal', () => {
    for (const outcome of EMAIL_OUTCOMES) {
      const view = buildView(buildRecord('termination'), { account: { id: 'acc_x', name: hostile, currency: 'EUR' }, reason: '<img src=x onerror=alert(2)>' });
      const { subject, text, html } = templates.render(outcome, view);
      expect(html).not.toContain('<script>');
      expect(html).not.toContain('<img');
      expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(text).toContain(hostile);
      expect(text).not.toContain('&lt;');
      // Subjects are plain text headers: literal, never entity-encoded.
      if (outcome === 'applied') expect(subject).toContain(hostile);
    }
  });

  it('escapes customer text in every kind-specific HTML template', () => {
    for (const kind of KINDS) {
      for (const outcome of EMAIL_OUTCOMES) {
        const record = buildRecord(kind, { requester: { email: 'x@example.com', name: '"><b>Eve</b>' } });
        const { html } = templates.render(outcome, buildView(record, { account: { id: 'a', name: hostile, currency: 'EUR' } }));
        expect(html).not.toMatch(/<script>|<b>Eve/);
      }
    }
  });

  it('keeps subjects on one line whatever the variables hold', () => {
    const { subject } = templates.render(
      'applied',
      buildView(buildRecord('status_change'), { account: { id: 'a', name: 'Acme\r\nBcc: victim@example.com', currency: 'EUR' } }),
    );
    expect(subject).toBe('Your account Acme Bcc: victim@example.com has been suspended (Ticket #123)');
    expect(singleLine('a\n\n  b\t c')).toBe('a b c');
    expect(singleLine('x'.repeat(500))).toHaveLength(200);
  });
});

describe('variables computed for the templates', () => {
  it('formats money, dates and labels so templates need no arithmetic', () => {
    const vars = emailVariables('credit_granted', buildView(buildRecord('service_credit', { amount: jpy(-1500) })), { displayNames: NAMES });
    expect(vars).toMatchObject({
      amount: '¥1,500',
      amount_is_credit: true,
      amount_is_charge: false,
      amount_summary: 'a credit of ¥1,500',
      credit_to_balance: '¥1,500',
      credit_to_invoice: null,
      credit_refunded: null,
      effective_date: '16 March 2026',
      kind_label: 'Service credit',
      ticket_ref: 'Ticket #123',
      account_name: 'Acme GmbH',
      credit_period: '10 March 2026',
      incident_reference: 'INC-42',
      reason: null,
    });
    expect((vars.record as LifecycleRecord).id).toBe('rec_0001');
  });

  it('names plans from the catalog and states the new price the provider confirmed, not a difference it never billed', () => {
    const vars = emailVariables('scheduled', buildView(buildRecord('downgrade', { state: 'scheduled' })), { displayNames: NAMES });
    expect(vars).toMatchObject({
      from_plan: 'Growth',
      to_plan: 'Starter',
      amount: null,
      new_price: '€29.00',
      amount_summary: null,
      change_summary: 'Plan change from Growth to Starter and removal of Single sign-on, Analytics',
      effective_end_of_term: true,
    });
  });

  it('takes plan and support-tier names from the catalog', () => {
    const names = catalogDisplayNames(buildCatalog());
    expect(names).toMatchObject({ growth: 'Growth', starter: 'Starter', priority: 'Priority' });
    expect(emailVariables('applied', buildView(buildRecord('upgrade')), { displayNames: names }).to_plan).toBe('Business');
  });

  it('shows ids when no display name is known, and no amount for zero', () => {
    const vars = emailVariables('applied', buildView(buildRecord('termination', { amount: eur(0) })));
    expect(vars.amount).toBeNull();
    expect(emailVariables('applied', buildView(buildRecord('upgrade'))).to_plan).toBe('business');
  });

  it('dates an immediate change by when it was applied, a scheduled one by its effective date', () => {
    const approvedLater = buildRecord('upgrade', { effective_at: '2026-03-16T12:00:00Z', updated_at: '2026-03-18T09:00:00Z' });
    expect(emailVariables('applied', buildView(approvedLater)).effective_date).toBe('18 March 2026');
    expect(emailVariables('rejected', buildView(approvedLater)).effective_date).toBe('16 March 2026');
    const endOfTerm = buildRecord('downgrade', { updated_at: '2026-04-01T00:00:05Z' });
    expect(emailVariables('applied', buildView(endOfTerm)).effective_date).toBe('1 April 2026');
  });

  it('reads dates in UTC whatever the input offset', () => {
    expect(humanDate('2026-04-01')).toBe('1 April 2026');
    expect(humanDate('2026-03-31T23:30:00-02:00')).toBe('1 April 2026');
    expect(humanDate('not a date')).toBeNull();
  });
});

describe('loading', () => {
  it('falls back to default.<outcome>.* part by part', () => {
    const dir = templatesDirWith({ 'service_credit.rejected.subject.liquid': 'Credit request {{ ticket_ref }}: not approved' });
    const t = EmailTemplates.load(dir);
    const { subject, text } = t.render('rejected', buildView(buildRecord('service_credit')));
    expect(subject).toBe('Credit request Ticket #123: not approved');
    expect(text).toContain('are not able to make this change');
    expect(t.fileFor('service_credit', 'rejected', 'subject')).toBe(path.join(dir, 'service_credit.rejected.subject.liquid'));
    expect(t.fileFor('service_credit', 'rejected', 'text')).toBe(path.join(dir, 'default.rejected.text.liquid'));
  });

  it('uses only default templates when a kind has none', () => {
    const dir = templatesDirWith({}, { keep: (f) => f.startsWith('default.') || f.startsWith('_') });
    const t = EmailTemplates.load(dir);
    for (const kind of KINDS) expect(t.fileFor(kind, 'applied', 'html')).toBe(path.join(dir, 'default.applied.html.liquid'));
    const { subject, text } = t.render('credit_granted', buildView(buildRecord('service_credit', { amount: jpy(-1500) })));
    expect(subject).toBe('A credit of ¥1,500 has been applied to your account (Ticket #123)');
    expect(text).toContain('a credit of ¥1,500');
  });

  it('refuses a template with a Liquid syntax error, naming the file', () => {
    const dir = templatesDirWith({ 'downgrade.applied.text.liquid': 'Hello {{ account_name }}\n{% if amount %}unclosed' });
    expect(() => EmailTemplates.load(dir)).toThrow(
      `Email template ${path.join(dir, 'downgrade.applied.text.liquid')} has a Liquid syntax error: tag {% if amount %} not closed`,
    );
  });

  it('refuses an unknown filter at load rather than at send time', () => {
    const dir = templatesDirWith({ 'default.rejected.html.liquid': '<p>{{ amount | money_with_currency }}</p>' });
    expect(() => EmailTemplates.load(dir)).toThrow(/default\.rejected\.html\.liquid has a Liquid syntax error: undefined filter: money_with_currency/);
  });

  it('refuses a broken partial, naming the partial', () => {
    const dir = templatesDirWith({ '_footer.text.liquid': '{% for x in %}' });
    expect(() => EmailTemplates.load(dir)).toThrow(/_footer\.text\.liquid has a Liquid syntax error/);
  });

  it('refuses a template that parses but cannot render, e.g. a missing partial', () => {
    const dir = templatesDirWith({ 'upgrade.applied.text.liquid': "{% include '_signature.text' %}" });
    expect(() => EmailTemplates.load(dir)).toThrow(/upgrade\.applied\.text\.liquid cannot render: .*_signature\.text/);
  });

  it('refuses a file name that matches no kind, outcome and part', () => {
    const dir = templatesDirWith({ 'downgrad.applied.text.liquid': 'typo' });
    expect(() => EmailTemplates.load(dir)).toThrow(/downgrad\.applied\.text\.liquid: unexpected file name/);
  });

  it('refuses a directory without a default for every outcome and part', () => {
    const dir = templatesDirWith({ 'default.rejected.html.liquid': null });
    expect(() => EmailTemplates.load(dir)).toThrow(`Email templates: ${path.join(dir, 'default.rejected.html.liquid')} is missing`);
  });

  it('names the directory when it cannot be read', () => {
    expect(() => EmailTemplates.load('/nonexistent/email-templates')).toThrow(/cannot read the directory \/nonexistent\/email-templates \(ENOENT\)/);
  });
});
