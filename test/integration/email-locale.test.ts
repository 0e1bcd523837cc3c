import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { sendCustomerEmail } from '../../src/app/send-email';
import { parseAccountsFile } from '../../src/app/import-accounts';
import { EmailTemplates, localeChain } from '../../src/integrations/email/templates';
import type { EmailView } from '../../src/integrations/email/templates';
import { SmtpEmailSender } from '../../src/integrations/email/smtp.sender';
import { AccountSchema } from '../../src/records/accounts';
import { SmtpStandin } from '../../devtools/smtp.standin';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildCatalog, buildRequest } from '../helpers/builders';
import { buildDeps, seedAccounts } from '../helpers/app';

/**
 * Templates per language: `<kind>.<outcome>.<locale>.{subject,text,html}.liquid`, chosen by the
 * account's locale (de-CH tries de-CH, then de), falling back to the templates without a
 * language; a language's set is complete or start-up refuses it.
 */

const SHIPPED = path.resolve(__dirname, '..', '..', 'templates', 'email');

/** The shipped templates plus `extra` files, in a fresh folder. */
function templatesWith(extra: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ld-tpl-'));
  for (const f of fs.readdirSync(SHIPPED)) fs.copyFileSync(path.join(SHIPPED, f), path.join(dir, f));
  for (const [name, body] of Object.entries(extra)) fs.writeFileSync(path.join(dir, name), body);
  return dir;
}

const GERMAN_REJECTED = {
  'default.rejected.de.subject.liquid': 'Ihre Anfrage{% if ticket_ref %} ({{ ticket_ref }}){% endif %}',
  'default.rejected.de.text.liquid':
    'Guten Tag,\n\nwir können diese Änderung am Konto {{ account_name }} leider nicht vornehmen.{% if reason %} Grund: {{ reason }}{% endif %}\n',
  'default.rejected.de.html.liquid':
    '<!DOCTYPE html><html lang="de"><body><p>Wir können diese Änderung am Konto <strong>{{ account_name }}</strong> leider nicht vornehmen.</p></body></html>',
};
const FRENCH_TERMINATION_SCHEDULED = {
  'termination.scheduled.fr.subject.liquid': 'Résiliation confirmée : {{ account_name }}',
  'termination.scheduled.fr.text.liquid': 'Bonjour,\n\nLe compte {{ account_name }} sera fermé le {{ effective_date }}.\n',
  'termination.scheduled.fr.html.liquid':
    '<!DOCTYPE html><html lang="fr"><body><p>Le compte {{ account_name }} sera fermé le {{ effective_date }}.</p></body></html>',
};

describe('choosing and validating', () => {
  const templates = EmailTemplates.load(templatesWith({ ...GERMAN_REJECTED, ...FRENCH_TERMINATION_SCHEDULED }), { strictVariables: true });
  const view = (kind: 'termination' | 'downgrade', locale: string | null): EmailView => ({
    record: {
      id: 'r1',
      kind,
      subtype: kind === 'termination' ? 'customer_initiated' : 'subscription',
      account_id: 'acc_1',
      ticket_id: '42',
      requested_by: 'agent',
      requester: null,
      reason_code: 'price',
      reason_text: '',
      effective: 'end_of_term',
      effective_at: '2026-04-01T00:00:00Z',
      state: 'scheduled',
      version: 3,
      details: kind === 'termination' ? { termination_date: '2026-04-01', fee_waived: false } : { from_plan: 'growth', to_plan: 'starter' },
      amount: null,
      risk_flags: [],
      problems: [],
      created_at: '2026-03-01T00:00:00Z',
      updated_at: '2026-03-01T00:00:00Z',
    },
    account: { id: 'acc_1', name: 'Muster AG', currency: 'EUR' },
    ticketId: '42',
    reason: 'Vertrag läuft noch',
    locale,
  });

  it('tries the full tag, then the language, then no language', () => {
    expect(localeChain('de-CH')).toEqual(['de-CH', 'de']);
    expect(localeChain('pt-BR')).toEqual(['pt-BR', 'pt']);
    expect(localeChain(null)).toEqual([]);
  });

  it("a de-CH account's rejection uses the German default set for every part", () => {
    const r = templates.render('rejected', view('termination', 'de-CH'));
    expect(r.subject).toBe('Ihre Anfrage (Ticket #42)');
    expect(r.text).toContain('Grund: Vertrag läuft noch');
    expect(r.html).toContain('lang="de"');
    expect(templates.fileFor('termination', 'rejected', 'text', 'de-CH')).toMatch(/default\.rejected\.de\.text\.liquid$/);
  });

  it('a kind of its own in a language wins, with dates in that language', () => {
    const r = templates.render('scheduled', view('termination', 'fr'));
    expect(r.subject).toBe('Résiliation confirmée : Muster AG');
    expect(r.text).toContain('sera fermé le 1 avril 2026');
  });

  it('falls back to the templates without a language (and English dates) when the language has none for the outcome', () => {
    const fr = templates.render('scheduled', view('downgrade', 'fr'));
    const none = templates.render('scheduled', view('downgrade', null));
    expect(fr).toEqual(none);
    expect(fr.text).toContain('1 April 2026');
    expect(templates.render('rejected', view('termination', 'ja')).subject).toMatch(/^About your/);
  });

  it('refuses at start-up an incomplete language set, a non-canonical tag, or a template that does not parse', () => {
    const { 'default.rejected.de.html.liquid': _html, ...incomplete } = GERMAN_REJECTED;
    expect(() => EmailTemplates.load(templatesWith(incomplete))).toThrow(/default\.rejected\.de\.html\.liquid is missing; a language's templates/);
    expect(() => EmailTemplates.load(templatesWith({ 'default.rejected.pt-br.subject.liquid': 'x' }))).toThrow(
      /"pt-br" is not a language tag as accounts carry it \(write "pt-BR"\)/,
    );
    expect(() => EmailTemplates.load(templatesWith({ ...GERMAN_REJECTED, 'default.rejected.de.text.liquid': 'Hallo {% if %}' }))).toThrow(
      /default\.rejected\.de\.text\.liquid has a Liquid syntax error/,
    );
    expect(() => EmailTemplates.load(templatesWith({ ...GERMAN_REJECTED, 'default.rejected.de.text.liquid': '{{ reason | no_such_filter }}' }))).toThrow(
      /default\.rejected\.de\.text\.liquid/,
    );
  });
});

describe("the account's locale", () => {
  let t: TestDb;
  let smtp: SmtpStandin;
  let sender: SmtpEmailSender;
  beforeAll(async () => {
    t = await createTestDb();
    smtp = await SmtpStandin.start();
    sender = new SmtpEmailSender({ smtpUrl: smtp.url, from: 'support@lifecycle.example' });
  });
  afterAll(async () => {
    sender.close();
    await smtp.close();
    await t.destroy();
  });

  it('is imported from the accounts file (canonicalised, empty is none, a bad tag is refused by line)', () => {
    const header = 'id,name,plan_id,currency,term_start,term_end,locale';
    const ok = parseAccountsFile(
      `${header}\nacc_de,Muster AG,growth,EUR,2026-03-01,2026-04-01,de-ch\nacc_en,Acme,growth,EUR,2026-03-01,2026-04-01,\n`,
      'csv',
      buildCatalog(),
    );
    expect(ok.ok && ok.accounts.map((a) => a.locale)).toEqual(['de-CH', null]);
    const bad = parseAccountsFile(`${header}\nacc_x,X,growth,EUR,2026-03-01,2026-04-01,deutsch!\n`, 'csv', buildCatalog());
    expect(bad.ok).toBe(false);
    expect(JSON.stringify(bad)).toContain('language tag');
    expect(() => AccountSchema.parse({ ...buildAccount(), locale: 'xx-' })).toThrow();
  });

  it('is stored with the account and picks the German email end to end', async () => {
    await seedAccounts(t.db, buildAccount({ id: 'acc_de', locale: 'de-CH', contacts: ['einkauf@muster.example'] }));
    expect((await t.db('accounts').where({ id: 'acc_de' }).first()).locale).toBe('de-CH');
    const deps = buildDeps(t.db);
    const { record } = await createRecord(deps, {
      request: buildRequest('service_credit', { account_id: 'acc_de' }),
      actor: { role: 'agent', id: 'agent-1' },
      onProblems: 'reject',
    });
    await transitionRecord(deps, { recordId: record.id, event: 'request_approval', actor: { role: 'system', id: 'policy' } });
    await transitionRecord(deps, { recordId: record.id, event: 'reject', actor: { role: 'supervisor', id: 'U1' }, reason: 'kein Ausfall' });
    const renderer = EmailTemplates.load(templatesWith(GERMAN_REJECTED));
    expect(await sendCustomerEmail({ ...deps, sender, renderer, messageIdDomain: 'lifecycle-desk' }, record.id, 'rejected')).toBe('sent');
    const mail = smtp.messages.find((m) => m.parsed.messageId === `<${record.id}.rejected@lifecycle-desk>`)!;
    expect(mail.parsed.subject).toBe('Ihre Anfrage');
    expect(mail.parsed.text).toContain('Grund: kein Ausfall');
  });
});
