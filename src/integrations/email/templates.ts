import fs from 'node:fs';
import path from 'node:path';
import { Liquid } from 'liquidjs';
import type { Template } from 'liquidjs';
import { EMAIL_OUTCOME_NAMES } from '../../app/record-events';
import type { EmailOutcome } from '../../app/record-events';
import type { EmailRenderer, EmailView } from '../../app/send-email';
import { confirmedProration } from '../../records/billing';
import type { ConfirmedMoney } from '../../records/billing';
import type { ConfirmedAdjustment } from '../../records/ports';
import type { Catalog } from '../../records/catalog';
import { AppError } from '../../records/errors';
import { KINDS } from '../../records/kinds';
import type { Kind, LifecycleRecord } from '../../records/kinds';
import { customerChange, customerLabel, customerMoney } from '../../records/summary';
import { formatMoney } from '../../records/money';
import type { Money } from '../../records/money';

export type { EmailView };

/** Every customer email outcome; each needs a complete `default.<outcome>.*` set. */
export const EMAIL_OUTCOMES = EMAIL_OUTCOME_NAMES;

export const EMAIL_PARTS = ['subject', 'text', 'html'] as const;
export type EmailPart = (typeof EMAIL_PARTS)[number];

export interface RenderedEmail {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

export interface EmailTemplateOptions {
  /**
   * Display names of plans and support tiers by id (from the catalog), so customers read
   * "Growth" rather than "growth". Ids without a name are shown as they are.
   */
  readonly displayNames?: Readonly<Record<string, string>>;
  /**
   * Throw on variables a template uses but the view does not define. Off in production (an
   * unknown variable renders empty rather than holding back a customer email); the tests turn
   * it on to catch typos in the shipped templates.
   */
  readonly strictVariables?: boolean;
}

/** Plan and support-tier names from the catalog, for `EmailTemplateOptions.displayNames`. */
export function catalogDisplayNames(catalog: Pick<Catalog, 'plans' | 'support_tiers'>): Record<string, string> {
  const names: Record<string, string> = {};
  for (const t of catalog.support_tiers) names[t.id] = t.name;
  for (const p of catalog.plans) names[p.id] = p.name;
  return names;
}

/** `<kind>.<outcome>[.<locale>].<part>.liquid`; a locale is a canonical BCP 47 tag (`de`, `pt-BR`). */
const SET_FILE = new RegExp(
  `^(default|${KINDS.join('|')})\\.(${EMAIL_OUTCOMES.join('|')})(?:\\.([a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*))?\\.(${EMAIL_PARTS.join('|')})\\.liquid$`,
);

/**
 * The locales to try for an account's locale, most specific first: `de-CH` tries `de-CH`, then
 * `de`; then the templates without a locale.
 */
export function localeChain(locale: string | null | undefined): string[] {
  if (!locale) return [];
  const parts = locale.split('-');
  return parts.map((_, i) => parts.slice(0, parts.length - i).join('-'));
}
/** Partials (`{% include '_footer.text' %}`, `{% layout '_layout.html' %}`) start with an underscore. */
const PARTIAL_FILE = /^_[A-Za-z0-9_.-]+\.liquid$/;

/** Subjects are one header line: folded whitespace, and short enough for every mail client. */
const SUBJECT_MAX = 200;

// ---------------------------------------------------------------------------------------------
// Variables

/** How the customer reads a record's kind and subtype ("Plan upgrade"): the neutral summary's words. */
export const kindLabel = (kind: Kind, subtype: string): string => customerLabel(kind, subtype);

const DAY = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
const dayFormats = new Map<string, Intl.DateTimeFormat>([['en-GB', DAY]]);
/** Dates are written in the language of the templates chosen: "1 April 2026", "1. April 2026", "1 avril 2026". */
function dayFormat(locale: string | null | undefined): Intl.DateTimeFormat {
  const key = locale || 'en-GB';
  let f = dayFormats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(key, { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
    dayFormats.set(key, f);
  }
  return f;
}

const humanDateIn = (value: unknown, locale: string | null) => humanDate(value, locale);

/** "1 April 2026" (UTC) from an ISO instant or a YYYY-MM-DD date; null for anything else. */
export function humanDate(value: unknown, locale?: string | null): string | null {
  if (typeof value !== 'string' || !value) return null;
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  return Number.isNaN(t) ? null : dayFormat(locale).format(new Date(t));
}

const isMoney = (v: unknown): v is Money => !!v && typeof (v as Money).amount_minor === 'number' && typeof (v as Money).currency === 'string';

/** Formatted absolute amount ("€12.34", "¥1,500"); the sign is carried by the flags beside it. */
const absMoney = (v: unknown): string | null => (isMoney(v) ? formatMoney({ amount_minor: Math.abs(v.amount_minor), currency: v.currency }) : null);

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() ? v : null);

/**
 * The day a service-credit period covers up to. Periods are stored half-open (the end instant is
 * excluded), so one ending at midnight reads as the day before: 10 March 00:00 → 11 March 00:00
 * is "10 March 2026".
 */
function creditPeriod(start: unknown, end: unknown, locale?: string | null): string | null {
  const from = humanDate(start, locale);
  if (!from || typeof end !== 'string') return null;
  const endMs = Date.parse(end);
  if (Number.isNaN(endMs)) return null;
  const lastMs = new Date(endMs).toISOString().endsWith('T00:00:00.000Z') ? endMs - 1 : endMs;
  const to = humanDate(new Date(Math.max(lastMs, Date.parse(start as string))).toISOString(), locale);
  return to === from ? from : `${from} to ${to}`;
}

function featureList(values: unknown, names: Readonly<Record<string, string>>): string[] {
  return Array.isArray(values) ? values.filter((f): f is string => typeof f === 'string').map((f) => names[f] ?? f) : [];
}

/**
 * The variables every template sees. Money and dates are formatted here, in TypeScript, so an
 * admin editing a template never does arithmetic or currency formatting in Liquid.
 */
export function emailVariables(
  outcome: EmailOutcome,
  view: EmailView,
  options: Pick<EmailTemplateOptions, 'displayNames'> = {},
  locale: string | null = null,
): Record<string, unknown> {
  const humanDate = (value: unknown) => humanDateIn(value, locale);
  const r = view.record;
  const d = r.details;
  const names = options.displayNames ?? {};
  const named = (v: unknown) => {
    const s = str(v);
    return s === null ? null : (names[s] ?? s);
  };
  const account_name = view.account.name;

  // Money comes only from what the billing provider confirmed, in its amounts: never from what
  // the record asked for, which the provider may have refused or changed.
  const confirmed = view.billing ?? [];
  const moved = confirmed.flatMap((c) => c.result.money ?? []);
  const total = (pick: (m: ConfirmedMoney) => boolean): Money | null => {
    const items = moved.filter(pick);
    return items.length ? { amount_minor: items.reduce((sum, m) => sum + m.amount.amount_minor, 0), currency: items[0]!.amount.currency } : null;
  };
  const latest = <T>(pick: (r: ConfirmedAdjustment['result']) => T | null | undefined): T | null => {
    for (const c of [...confirmed].reverse()) {
      const v = pick(c.result);
      if (v !== undefined && v !== null) return v;
    }
    return null;
  };
  // Money a reversal took back is stated on its own (`reversed_amount`), never as a new credit or charge.
  const reversing = moved.filter((m) => m.reverses);
  const forward = moved.filter((m) => !m.reverses);
  const proration = confirmedProration(forward);
  const credited = total((m) => m.purpose === 'service_credit' && !m.reverses);
  const feeCharged = total((m) => m.purpose === 'fee' && m.type === 'charge' && !m.reverses);
  const refunded = total((m) => m.purpose === 'termination_refund' && m.type === 'refund' && !m.reverses);
  const reversedTotal = reversing.length
    ? { amount_minor: reversing.reduce((sum, m) => sum + m.amount.amount_minor, 0), currency: reversing[0]!.amount.currency }
    : null;
  // Which of these the email states is the kind's (records/kinds/<kind>.ts).
  const { money, prorated } = customerMoney(r.kind, { proration, credited, feeCharged });
  const hasAmount = !!money && money.amount_minor !== 0;
  const amount = hasAmount ? absMoney(money) : null;
  const amount_is_credit = hasAmount && money!.amount_minor < 0;
  const amount_is_charge = hasAmount && money!.amount_minor > 0;
  const amount_summary = !amount ? null : `${prorated ? 'a prorated ' : 'a '}${amount_is_credit ? 'credit' : 'charge'} of ${amount}`;
  const newPrice = latest((res) => res.price);
  const creditPart = (destination: ConfirmedMoney['destination']) =>
    absMoney(total((m) => m.purpose === 'service_credit' && !m.reverses && m.destination === destination));
  const outstanding = latest((res) => res.outstanding);

  const status_before = str(d.status_before);
  const status_after = str(d.status_after);
  const suspension = d.suspension as { cause?: string; review_date?: string } | undefined;
  const merge = d.merge as { source_account_id?: string; target_account_id?: string } | undefined;
  // Only service credits have an affected period.
  const credit_period = creditPeriod(d.period_start, d.period_end, locale);
  const features = featureList(d.features, names);
  // An immediate change takes effect when it is applied, which may be days after the request
  // (approval); the record was last updated by that step.
  const appliedNow = r.effective === 'immediate' && (outcome === 'applied' || outcome === 'credit_granted');
  const effectiveAt = appliedNow && r.effective_at && Date.parse(r.updated_at) > Date.parse(r.effective_at) ? r.updated_at : r.effective_at;
  const effective_date = humanDate(effectiveAt) ?? humanDate(r.effective);
  const early_termination_fee = absMoney(feeCharged);
  // Waived means nothing was charged; no amount is stated for money that never moved.
  const fee_waived = d.fee_waived === true && !feeCharged;

  const base = {
    outcome,
    /** The locale of the templates chosen (null: the default ones). */
    locale,
    kind: r.kind,
    subtype: r.subtype,
    kind_label: kindLabel(r.kind, r.subtype),
    account_name,
    account_id: view.account.id,
    currency: money?.currency ?? view.account.currency,
    customer_name: str(r.requester?.name),
    ticket_id: view.ticketId,
    ticket_ref: view.ticketId ? `Ticket #${view.ticketId}` : null,
    reason: str(view.reason),
    cancelled_by_customer: view.cancelledByCustomer === true,
    manage_url: str(view.manageUrl),
    effective_date,
    effective_immediately: r.effective === 'immediate',
    effective_end_of_term: r.effective === 'end_of_term',
    amount,
    amount_is_credit,
    amount_is_charge,
    amount_summary,
    prorated,
    new_price: absMoney(newPrice),
    credit_to_invoice: creditPart('invoice'),
    credit_to_balance: creditPart('balance'),
    credit_refunded: creditPart('payment'),
    from_plan: named(d.from_plan),
    to_plan: named(d.to_plan),
    from_support_tier: named(d.from_support_tier),
    to_support_tier: named(d.to_support_tier),
    features,
    features_list: features.length ? features.join(', ') : null,
    status_before,
    status_after,
    review_date: humanDate(suspension?.review_date),
    data_retention_date: humanDate(d.data_retention_until),
    merge_target_account: str(merge?.target_account_id),
    termination_date: humanDate(d.termination_date),
    notice_period_days: typeof d.notice_period_days === 'number' ? d.notice_period_days : null,
    early_termination_fee,
    fee_waived,
    refund: refunded && refunded.amount_minor !== 0 ? absMoney(refunded) : null,
    outstanding_balance: outstanding && outstanding.amount_minor > 0 ? absMoney(outstanding) : null,
    incident_reference: str(d.incident_reference),
    credit_period,
  };
  return {
    ...base,
    // What the record changes, in the customer's words: the kind module says it (records/summary.ts).
    change_summary: customerChange(r, base),
    resolution_outcome: str(view.resolution),
    resolution_upheld: view.resolution === 'upheld',
    resolution_adjusted: view.resolution === 'adjusted',
    resolution_reversed: view.resolution === 'reversed',
    reversed_amount: absMoney(reversedTotal),
    // What a reversal undid, described as the original change (its details are the original's).
    reversed_summary: customerChange(r, { ...base, amount: r.kind === 'service_credit' ? absMoney(reversedTotal) : base.amount }),
    // Names an earlier draft of these templates used; kept so edited templates keep working.
    period: credit_period,
    data_retention_until: base.data_retention_date,
    // The raw record for power users (amounts in minor units, ISO dates).
    record: r,
  };
}

// ---------------------------------------------------------------------------------------------
// Loading and rendering

interface LoadedTemplate {
  readonly file: string;
  readonly engine: Liquid;
  readonly template: Template[];
}

const liquidMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function engines(sources: Record<string, string>, strictVariables: boolean): { text: Liquid; html: Liquid } {
  const common = {
    // Templates are read once into memory: renders never touch the disk, and `include`/`layout`
    // resolve only among the files in the templates directory.
    templates: sources,
    extname: '.liquid',
    // Partials (`include`, `layout`) are parsed once, not on every render.
    cache: true,
    strictFilters: true,
    strictVariables,
    lenientIf: true,
    ownPropertyOnly: true,
    // `{{ record.effective_at | date: "%-d %B %Y" }}` must not depend on the server's time zone.
    timezoneOffset: 0,
    // Admin-written templates are trusted, but a runaway loop must not stall the email worker.
    renderLimit: 2000,
    memoryLimit: 16 * 1024 * 1024,
  };
  return { text: new Liquid(common), html: new Liquid({ ...common, outputEscape: 'escape' }) };
}

/** Stand-in views of every kind, rendered once at load so a template that parses but cannot render fails at start-up. */
function sampleViews(): EmailView[] {
  const base = {
    id: 'sample',
    subtype: '',
    account_id: 'acc_sample',
    ticket_id: '1',
    requested_by: 'agent',
    requester: { email: 'customer@example.com', name: 'Sam Sample' },
    reason_code: 'customer_request',
    reason_text: '',
    effective: '2026-04-01',
    effective_at: '2026-04-01T00:00:00Z',
    state: 'applied',
    version: 1,
    risk_flags: [],
    problems: [],
    created_at: '2026-03-01T00:00:00Z',
    updated_at: '2026-03-01T00:00:00Z',
  } as const;
  const eur = (amount_minor: number): Money => ({ amount_minor, currency: 'EUR' });
  const records: LifecycleRecord[] = [
    { ...base, kind: 'downgrade', subtype: 'subscription', amount: eur(-7000), details: { from_plan: 'growth', to_plan: 'starter', price_delta: eur(-7000) } },
    { ...base, kind: 'upgrade', subtype: 'subscription', amount: eur(10000), details: { from_plan: 'growth', to_plan: 'business', price_delta: eur(20000) } },
    {
      ...base,
      kind: 'termination',
      subtype: 'customer_initiated',
      amount: eur(50000),
      details: { termination_date: '2026-04-01', early_termination_fee: eur(50000), fee_waived: false },
    },
    {
      ...base,
      kind: 'status_change',
      subtype: 'suspension',
      amount: null,
      details: { status_before: 'active', status_after: 'suspended', suspension: { cause: 'unpaid invoices', review_date: '2026-04-15' } },
    },
    {
      ...base,
      kind: 'service_credit',
      subtype: 'outage',
      amount: eur(-1500),
      details: { period_start: '2026-03-10T00:00:00Z', period_end: '2026-03-11T00:00:00Z', requested_credit: eur(1500) },
    },
  ];
  // What a provider would have confirmed for each, so every money branch renders at load too.
  const confirmed = (effect: ConfirmedAdjustment['effect'], result: ConfirmedAdjustment['result']): ConfirmedAdjustment => ({
    idempotency_key: 'billing.sample.apply',
    step: 'apply',
    effect,
    result,
  });
  const billing: ConfirmedAdjustment[][] = [
    [
      confirmed(
        { type: 'plan_change', to_plan: 'starter', from_plan: 'growth', prorate: false, at: '2026-04-01T00:00:00Z', price: eur(2900), proration: null },
        { providerRef: 'sample', price: eur(2900) },
      ),
    ],
    [
      confirmed(
        {
          type: 'plan_change',
          to_plan: 'business',
          from_plan: 'growth',
          prorate: true,
          at: '2026-03-16T00:00:00Z',
          price: eur(29900),
          proration: { credit: eur(-5000), charge: eur(15000), net: eur(10000) },
        },
        {
          providerRef: 'sample',
          money: [
            { type: 'charge', purpose: 'proration', amount: eur(15000), destination: 'invoice' },
            { type: 'credit', purpose: 'proration', amount: eur(5000), destination: 'invoice' },
          ],
          price: eur(29900),
        },
      ),
    ],
    [
      confirmed(
        { type: 'fee', amount: eur(50000) },
        { providerRef: 'sample', money: [{ type: 'charge', purpose: 'fee', amount: eur(50000), destination: 'invoice' }], outstanding: eur(50000) },
      ),
      confirmed(
        { type: 'refund', amount: eur(1000) },
        { providerRef: 'sample', money: [{ type: 'refund', purpose: 'termination_refund', amount: eur(1000), destination: 'payment' }] },
      ),
    ],
    [confirmed({ type: 'resume', plan: 'growth', price: eur(9900) }, { providerRef: 'sample', price: eur(9900) })],
    [
      confirmed(
        { type: 'credit', amount: eur(1500), period_start: '2026-03-10T00:00:00Z', period_end: '2026-03-11T00:00:00Z', paid_invoice: 'credit' },
        {
          providerRef: 'sample',
          money: [
            { type: 'credit', purpose: 'service_credit', amount: eur(500), destination: 'invoice' },
            { type: 'credit', purpose: 'service_credit', amount: eur(500), destination: 'balance' },
            { type: 'credit', purpose: 'service_credit', amount: eur(500), destination: 'payment' },
          ],
        },
      ),
    ],
  ];
  return records.map((record, i) => ({
    record,
    account: { id: 'acc_sample', name: 'Sample Ltd', currency: 'EUR' },
    ticketId: '1',
    reason: 'sample reason',
    billing: billing[i] ?? [],
  }));
}

/**
 * Customer email templates (Liquid, as Zendesk admins know it): one set per kind and outcome,
 * `<kind>.<outcome>.{subject,text,html}.liquid`, each part falling back on its own to
 * `default.<outcome>.<part>.liquid`. Files starting with `_` are partials for `include` and
 * `layout`. The HTML part escapes every output (`| raw` opts out); subject and text do not.
 */
export class EmailTemplates implements EmailRenderer {
  private constructor(
    private readonly sets: ReadonlyMap<string, LoadedTemplate>,
    private readonly options: EmailTemplateOptions,
  ) {}

  /**
   * Reads and parses every template in `dir` (synchronously: it runs once at start-up, and a
   * caller may `await` it all the same). Throws an Error naming the file for a Liquid syntax
   * error, a file name that matches no kind/outcome/part, a missing `default.*` file, or a
   * template that cannot render a sample record. Edits take effect on restart.
   */
  static load(dir: string, options: EmailTemplateOptions = {}): EmailTemplates {
    let names: string[];
    try {
      names = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.liquid'))
        .sort();
    } catch (err) {
      throw new Error(
        `Email templates: cannot read the directory ${dir} (${(err as NodeJS.ErrnoException).code ?? liquidMessage(err)}); set EMAIL_TEMPLATES_DIR to the folder holding the .liquid files`,
        { cause: err },
      );
    }
    const sources: Record<string, string> = {};
    for (const name of names) {
      const file = path.join(dir, name);
      if (!SET_FILE.test(name) && !PARTIAL_FILE.test(name)) {
        throw new Error(
          `Email template ${file}: unexpected file name; expected <kind>.<outcome>.<part>.liquid or <kind>.<outcome>.<locale>.<part>.liquid with kind one of default, ${KINDS.join(', ')}; ` +
            `outcome one of ${EMAIL_OUTCOMES.join(', ')}; part one of ${EMAIL_PARTS.join(', ')} (or a partial whose name starts with "_")`,
        );
      }
      sources[name] = fs.readFileSync(file, 'utf8');
    }

    const { text, html } = engines(sources, options.strictVariables ?? false);
    const sets = new Map<string, LoadedTemplate>();
    const locales = new Set<string>();
    for (const name of names) {
      const locale = SET_FILE.exec(name)?.[3];
      if (!locale) continue;
      let canonical: string | undefined;
      try {
        canonical = Intl.getCanonicalLocales(locale)[0];
      } catch {
        canonical = undefined;
      }
      if (canonical !== locale) {
        throw new Error(
          `Email template ${path.join(dir, name)}: "${locale}" is not a language tag as accounts carry it${canonical ? ` (write "${canonical}")` : ''}`,
        );
      }
      locales.add(locale);
    }
    for (const name of names) {
      const file = path.join(dir, name);
      const engine = /\.html\.liquid$/.test(name) ? html : text;
      let template: Template[];
      try {
        template = engine.parse(sources[name]!, file);
      } catch (err) {
        throw new Error(`Email template ${file} has a Liquid syntax error: ${liquidMessage(err)}`, { cause: err });
      }
      if (SET_FILE.test(name)) sets.set(name.replace(/\.liquid$/, ''), { file, engine, template });
    }
    for (const outcome of EMAIL_OUTCOMES) {
      for (const part of EMAIL_PARTS) {
        if (!sets.has(`default.${outcome}.${part}`)) {
          throw new Error(
            `Email templates: ${path.join(dir, `default.${outcome}.${part}.liquid`)} is missing; every outcome needs a default subject, text and html template`,
          );
        }
      }
    }

    // A language's set is complete or absent: a German subject over an English body would be worse than English throughout.
    for (const key of new Set([...sets.keys()].filter((k) => k.split('.').length === 4).map((k) => k.replace(/\.[a-z]+$/, '')))) {
      for (const part of EMAIL_PARTS) {
        if (!sets.has(`${key}.${part}`)) {
          throw new Error(
            `Email templates: ${path.join(dir, `${key}.${part}.liquid`)} is missing; a language's templates for an outcome need a subject, text and html (or none of them)`,
          );
        }
      }
    }

    const loaded = new EmailTemplates(sets, options);
    for (const locale of [null, ...locales]) {
      for (const view of sampleViews()) {
        for (const outcome of EMAIL_OUTCOMES)
          loaded.renderWith(
            outcome,
            { ...view, locale },
            (file, err) => new Error(`Email template ${file} cannot render: ${liquidMessage(err)}`, { cause: err }),
          );
      }
    }
    return loaded;
  }

  /** Which file renders a part (the kind's own, else the default; in the account's language when there is one), for diagnostics and tests. */
  fileFor(kind: Kind, outcome: EmailOutcome, part: EmailPart, locale: string | null = null): string {
    return this.pick(kind, outcome, part, this.localeFor(kind, outcome, locale)).file;
  }

  /**
   * The language the email is written in: the first of the account's locale, then its language
   * alone (`de-CH`, then `de`), that has templates for this kind (or the default) and outcome;
   * null for the templates without a language.
   */
  localeFor(kind: Kind, outcome: EmailOutcome, locale: string | null | undefined): string | null {
    return localeChain(locale).find((l) => this.sets.has(`${kind}.${outcome}.${l}.subject`) || this.sets.has(`default.${outcome}.${l}.subject`)) ?? null;
  }

  /**
   * Renders one outcome's subject, text and html. A template that throws becomes a
   * non-retryable AppError naming the file: the same record would fail the same way again.
   */
  render(outcome: EmailOutcome, view: EmailView): RenderedEmail {
    return this.renderWith(
      outcome,
      view,
      (file, err) =>
        new AppError(
          'internal',
          `Email template ${file} failed to render for record ${view.record.id}: ${liquidMessage(err)}; fix the template, restart, and retry the record`,
          {
            cause: err,
            retryable: false,
          },
        ),
    );
  }

  private renderWith(outcome: EmailOutcome, view: EmailView, wrap: (file: string, err: unknown) => Error): RenderedEmail {
    const locale = this.localeFor(view.record.kind, outcome, view.locale);
    const vars = emailVariables(outcome, view, this.options, locale);
    const part = (p: EmailPart): string => {
      const t = this.pick(view.record.kind, outcome, p, locale);
      try {
        return String(t.engine.renderSync(t.template, vars));
      } catch (err) {
        throw wrap(t.file, err);
      }
    };
    return { subject: singleLine(part('subject')), text: tidyText(part('text')), html: tidyHtml(part('html')) };
  }

  private pick(kind: Kind, outcome: EmailOutcome, part: EmailPart, locale: string | null): LoadedTemplate {
    if (locale) {
      // Sets are complete per language, so the kind's own set (or else the default's) gives every part.
      const own = this.sets.has(`${kind}.${outcome}.${locale}.subject`) ? kind : 'default';
      return this.sets.get(`${own}.${outcome}.${locale}.${part}`)!;
    }
    return this.sets.get(`${kind}.${outcome}.${part}`) ?? this.sets.get(`default.${outcome}.${part}`)!;
  }
}

/** One header line: no CR/LF (header injection, folded subjects), collapsed spaces, bounded length. */
export function singleLine(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > SUBJECT_MAX ? `${one.slice(0, SUBJECT_MAX - 1).trimEnd()}…` : one;
}

/** Collapses the blank lines Liquid tags leave behind; whitespace between tags means nothing in HTML. */
function tidyHtml(s: string): string {
  return (
    s
      .replace(/\r\n?/g, '\n')
      .replace(/\n(?:[ \t]*\n)+/g, '\n')
      .trim() + '\n'
  );
}

/** Liquid tags leave blank lines behind; keep at most one empty line between paragraphs. */
function tidyText(s: string): string {
  return (
    s
      .replace(/\r\n?/g, '\n')
      .replace(/[ \t]+$/gm, '')
      .replace(/\n{3,}/g, '\n\n')
      .trim() + '\n'
  );
}
