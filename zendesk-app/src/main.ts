import ZAFClient from 'zendesk_app_framework_sdk';
import type { ZafClient } from 'zendesk_app_framework_sdk';
import { Api, ServiceError, explain } from './api';
import type { Problem } from './api';
import { h, when } from './dom';
import { fromTicketValue, renderForm, toTicketValue } from './form';
import type { FormValue, FormValues } from './form';
import type { PreviewView, RecordView, Session, TicketView } from './model';
import { accountPanel, netWords, recordPanels } from './view';

/**
 * The Lifecycle Desk sidebar: what the ticket's record is, what keeps it a draft, its money,
 * approvals, billing and email, the account, and what the agent may do about it. It never shows a
 * blank panel: every failure is said in words, and the last good view stays while live updates
 * are paused.
 */

interface FormState {
  /** file: a new record on this ticket; fix: correct the draft; ticket: write the fields of a new ticket. */
  readonly target: 'file' | 'fix' | 'ticket';
  readonly recordId?: string;
  readonly version?: number;
  values: FormValues;
  problems: readonly Problem[];
  preview: PreviewView | null;
  busy: boolean;
}

interface State {
  session: Session | null;
  ticketId: string | null;
  view: TicketView | null;
  form: FormState | null;
  error: ServiceError | null;
  notice: string | null;
  /** Live updates failed: the view may be stale. */
  stale: string | null;
}

const DEFAULT_POLL_S = 10;
const MAX_BACKOFF_S = 120;

const root = document.getElementById('app')!;

function start(): void {
  const client = ZAFClient.init();
  if (!client) {
    root.replaceChildren(h('div', { class: 'c-callout c-callout--error', role: 'alert' }, 'This page runs inside Zendesk, in the ticket sidebar.'));
    return;
  }
  void new Sidebar(client).boot();
}

class Sidebar {
  private api!: Api;
  private readonly state: State = { session: null, ticketId: null, view: null, form: null, error: null, notice: null, stale: null };
  private pollSeconds = DEFAULT_POLL_S;
  private failures = 0;
  private timer: number | null = null;
  private active = true;

  constructor(private readonly client: ZafClient) {}

  async boot(): Promise<void> {
    this.watchSize();
    this.render();
    try {
      const [metadata, context] = await Promise.all([this.client.metadata(), this.client.context()]);
      const settings = metadata.settings ?? {};
      const serviceUrl = typeof settings.service_url === 'string' ? settings.service_url : '';
      if (!serviceUrl) throw new ServiceError('unauthorized', 0, "The app's Lifecycle Desk URL setting is empty; ask your Zendesk admin to set it.");
      const poll = Number(settings.poll_seconds);
      this.pollSeconds = Number.isFinite(poll) && poll >= 2 ? Math.min(poll, 300) : DEFAULT_POLL_S;
      this.api = new Api(this.client, serviceUrl, context.account?.subdomain ?? '');
      const isNew = context.location === 'new_ticket_sidebar';
      this.state.ticketId = isNew ? null : context.ticketId !== undefined ? String(context.ticketId) : await this.ticketIdFromZendesk();
      this.state.session = await this.api.call<Session>('GET', '/api/zaf/session');
      if (this.state.ticketId) await this.refresh();
      else await this.openForm('ticket');
      this.client.on('app.activated', () => {
        this.active = true;
        void this.refresh();
      });
      this.client.on('app.deactivated', () => {
        this.active = false;
      });
      this.schedule();
    } catch (err) {
      this.state.error = explain(err);
      this.render();
    }
  }

  private async ticketIdFromZendesk(): Promise<string | null> {
    const got = await this.client.get('ticket.id');
    const id = got['ticket.id'];
    return id === null || id === undefined ? null : String(id);
  }

  // --- live updates: short polling through the proxy (it passes no streams); only changes come back.

  private schedule(): void {
    if (!this.state.ticketId) return;
    if (this.timer !== null) window.clearTimeout(this.timer);
    const wait = Math.min(MAX_BACKOFF_S, this.pollSeconds * 2 ** Math.min(this.failures, 5));
    this.timer = window.setTimeout(() => {
      void (this.active && !document.hidden ? this.refresh(true) : Promise.resolve()).finally(() => this.schedule());
    }, wait * 1000);
  }

  private async refresh(quiet = false): Promise<void> {
    const id = this.state.ticketId;
    if (!id) return;
    try {
      const stamp = this.state.view?.stamp;
      const got = await this.api.call<TicketView | { unchanged: true }>('GET', `/api/zaf/tickets/${encodeURIComponent(id)}${stamp ? `?stamp=${stamp}` : ''}`);
      this.failures = 0;
      const wasStale = this.state.stale !== null;
      this.state.stale = null;
      this.state.error = null;
      if ('unchanged' in got) {
        if (wasStale) this.render();
        return;
      }
      this.state.view = got;
      this.render();
    } catch (err) {
      const e = explain(err);
      this.failures += 1;
      if (!quiet || !this.state.view) this.state.error = e;
      this.state.stale = `Live updates paused: ${e.message}`;
      this.render();
    }
  }

  // --- the form

  private async openForm(target: FormState['target'], record?: RecordView): Promise<void> {
    const values = await this.ticketValues();
    this.state.form = {
      target,
      ...(record ? { recordId: record.id, version: record.version } : {}),
      values,
      problems: record?.problems ?? [],
      preview: null,
      busy: false,
    };
    this.state.notice = null;
    this.render();
  }

  /** The ticket's request fields, read from Zendesk (the ticket as the agent sees it, unsaved edits included). */
  private async ticketValues(): Promise<FormValues> {
    const session = this.state.session!;
    const paths = session.field_map.fields.map((f) => `ticket.customField:custom_field_${f.id}`);
    // A field Zendesk cannot read (removed from the form) just starts empty.
    const got: Record<string, unknown> = await this.client.get(paths).catch(() => ({}));
    const values: FormValues = {};
    for (const f of session.field_map.fields) values[f.name] = fromTicketValue(session, f.name, got[`ticket.customField:custom_field_${f.id}`]);
    return values;
  }

  private async ticketContext(): Promise<{ subject: string | null; requester: { email: string; name?: string } | null }> {
    try {
      const got = await this.client.get(['ticket.subject', 'ticket.requester']);
      const r = got['ticket.requester'] as { email?: string; name?: string } | null | undefined;
      return {
        subject: typeof got['ticket.subject'] === 'string' ? (got['ticket.subject'] as string) : null,
        requester: r?.email ? { email: r.email, ...(r.name ? { name: r.name } : {}) } : null,
      };
    } catch {
      return { subject: null, requester: null };
    }
  }

  private async formBody(): Promise<{ fields: FormValues; ticket: Awaited<ReturnType<Sidebar['ticketContext']>> }> {
    const fields: FormValues = {};
    for (const [k, v] of Object.entries(this.state.form!.values)) if (v !== null && !(Array.isArray(v) && v.length === 0)) fields[k] = v;
    return { fields, ticket: await this.ticketContext() };
  }

  private onChange(name: string, value: FormValue): void {
    const form = this.state.form!;
    form.values[name] = value;
    if (name === 'kind') form.values.subtype = null;
    form.preview = null;
    if (name === 'kind' || name === 'effective') this.render();
    else this.renderFormActions();
  }

  private async preview(): Promise<void> {
    const form = this.state.form!;
    await this.busy(async () => {
      const out = await this.api.call<PreviewView>('POST', '/api/zaf/preview', { form: await this.formBody(), ticket_id: this.state.ticketId });
      form.preview = out;
      form.problems = out.problems;
    });
  }

  private async submit(): Promise<void> {
    const form = this.state.form!;
    if (form.target === 'ticket') return this.writeTicketFields();
    if (!form.preview?.quote) return;
    await this.busy(async () => {
      const body = await this.formBody();
      if (form.target === 'file') await this.api.call('POST', '/api/zaf/records', { form: body, quote: form.preview!.quote, ticket_id: this.state.ticketId });
      else await this.api.call('POST', `/api/zaf/records/${form.recordId}/fix`, { form: body, quote: form.preview!.quote, version: form.version });
      this.state.form = null;
      this.state.notice = form.target === 'file' ? 'Request filed.' : 'Draft fixed and submitted.';
      await this.refresh();
    });
  }

  /** On a new ticket there is no record yet: the request goes into the ticket's fields and is filed when the ticket is submitted. */
  private async writeTicketFields(): Promise<void> {
    const session = this.state.session!;
    const form = this.state.form!;
    await this.busy(async () => {
      for (const f of session.field_map.fields) {
        const v = form.values[f.name];
        if (v === undefined) continue;
        await this.client.set(`ticket.customField:custom_field_${f.id}`, toTicketValue(session, f.name, v));
      }
      this.state.notice = 'The request is in the ticket fields; it is filed when you submit the ticket (amounts are computed then).';
    });
  }

  private async act(record: RecordView, action: 'cancel' | 'retry'): Promise<void> {
    if (action === 'cancel' && !window.confirm(`Cancel this ${record.kind_label.toLowerCase()}? The customer is not billed for it.`)) return;
    await this.busy(async () => {
      await this.api.call('POST', `/api/zaf/records/${record.id}/${action}`, { version: record.version });
      this.state.notice = action === 'cancel' ? 'Cancelled.' : 'Sent to billing again.';
      await this.refresh();
    });
  }

  /**
   * Dispute: what the customer disputes, and documents by reference (Zendesk attachment ids or
   * https links, comma-separated); the service refuses anything else and says why.
   */
  private async dispute(record: RecordView): Promise<void> {
    const reason = window.prompt(`What does the customer dispute about this ${record.kind_label.toLowerCase()}?`)?.trim();
    if (!reason) return;
    const refs = (window.prompt('Documents (optional): Zendesk attachment ids or https links, comma-separated. Never paste a document itself.') ?? '')
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean);
    const documents = refs.map((r) => (/^\d+$/.test(r) ? { zendesk_attachment_id: r } : { url: r }));
    await this.busy(async () => {
      await this.api.call('POST', `/api/zaf/records/${record.id}/dispute`, { version: record.version, reason, documents });
      this.state.notice = 'Dispute opened; a supervisor resolves it.';
      await this.refresh();
    });
  }

  /** Resolve: the outcome and the reason the customer is emailed. */
  private async resolve(record: RecordView): Promise<void> {
    const outcome = window
      .prompt('Outcome: upheld (the change stands), adjusted (it stands, corrected) or reversed (it is undone; a reversal is filed for approval)')
      ?.trim()
      .toLowerCase();
    if (!outcome) return;
    const reason = window.prompt('Reason (the customer reads it):')?.trim();
    if (!reason) return;
    await this.busy(async () => {
      await this.api.call('POST', `/api/zaf/records/${record.id}/resolve`, { version: record.version, reason, outcome });
      this.state.notice = outcome === 'reversed' ? 'Resolved as reversed; the reversal waits for approval.' : 'Dispute resolved; the customer is emailed.';
      await this.refresh();
    });
  }

  /** Runs an action with the buttons disabled; its failure is shown, never swallowed. */
  private async busy(work: () => Promise<void>): Promise<void> {
    if (this.state.form) this.state.form.busy = true;
    this.state.error = null;
    this.render();
    try {
      await work();
    } catch (err) {
      const e = explain(err);
      this.state.error = e;
      if (this.state.form && e.problems.length) this.state.form.problems = e.problems;
      if (e.kind === 'conflict' || e.kind === 'forbidden') await this.refresh(true);
    } finally {
      if (this.state.form) this.state.form.busy = false;
      this.render();
    }
  }

  // --- rendering

  /** Never a blank panel: a view that cannot be drawn says so. */
  private render(): void {
    try {
      this.draw();
    } catch (err) {
      root.replaceChildren(
        h(
          'div',
          { class: 'c-callout c-callout--error ld-error', role: 'alert' },
          h(
            'p',
            { class: 'c-callout__paragraph' },
            `The sidebar could not show this record (${(err as Error).message}). Reload the ticket; tell your admin if it persists.`,
          ),
        ),
      );
    }
  }

  private draw(): void {
    const s = this.state;
    const parts: (HTMLElement | null)[] = [
      h(
        'header',
        { class: 'ld-header' },
        h('span', { class: 'ld-header__title' }, 'Lifecycle Desk'),
        s.session ? h('span', { class: 'c-tag c-tag--sm c-tag--grey ld-role', 'data-role': s.session.role }, s.session.role) : null,
      ),
      s.error
        ? h(
            'div',
            { class: `c-callout c-callout--${s.error.kind === 'invalid' || s.error.kind === 'conflict' ? 'warning' : 'error'} ld-error`, role: 'alert' },
            h('p', { class: 'c-callout__paragraph' }, s.error.message),
            this.retryButton(),
          )
        : null,
      s.stale && !s.error ? h('div', { class: 'c-callout c-callout--warning ld-stale', role: 'status' }, s.stale) : null,
      s.notice ? h('div', { class: 'c-callout c-callout--success ld-notice', role: 'status' }, s.notice) : null,
    ];
    if (!s.session) {
      if (!s.error) parts.push(h('p', { class: 'ld-loading' }, 'Loading…'));
    } else if (s.form) {
      parts.push(this.formSection());
    } else if (s.view) {
      parts.push(...this.viewSections(s.view));
    }
    root.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  }

  private retryButton(): HTMLElement | null {
    if (!this.state.error || this.state.error.kind === 'invalid' || this.state.error.kind === 'forbidden') return null;
    return h('button', { type: 'button', class: 'c-btn c-btn--sm', onclick: () => void (this.state.session ? this.refresh() : this.boot()) }, 'Try again');
  }

  private viewSections(v: TicketView): HTMLElement[] {
    const session = this.state.session!;
    const out: HTMLElement[] = [];
    const current = v.records[0];
    const canFile = session.actions.includes('file_request');
    if (!current) {
      out.push(h('p', { class: 'ld-empty' }, 'No lifecycle request on this ticket.'));
    } else {
      const a = current.actions ?? { fix: false, cancel: false, retry: false };
      out.push(
        h(
          'article',
          { class: 'ld-record', 'data-record': current.id, 'data-state': current.state },
          recordPanels(current),
          current.state === 'draft' ? this.draftProblems(current) : null,
          h(
            'div',
            { class: 'ld-actions' },
            a.fix
              ? h(
                  'button',
                  { type: 'button', class: 'c-btn c-btn--primary c-btn--sm', 'data-action': 'fix', onclick: () => void this.openForm('fix', current) },
                  'Fix the draft',
                )
              : null,
            a.cancel
              ? h(
                  'button',
                  { type: 'button', class: 'c-btn c-btn--danger c-btn--sm', 'data-action': 'cancel', onclick: () => void this.act(current, 'cancel') },
                  'Cancel request',
                )
              : null,
            a.retry
              ? h(
                  'button',
                  { type: 'button', class: 'c-btn c-btn--primary c-btn--sm', 'data-action': 'retry', onclick: () => void this.act(current, 'retry') },
                  'Retry billing',
                )
              : null,
            a.dispute
              ? h('button', { type: 'button', class: 'c-btn c-btn--sm', 'data-action': 'dispute', onclick: () => void this.dispute(current) }, 'Dispute')
              : null,
            a.resolve
              ? h(
                  'button',
                  { type: 'button', class: 'c-btn c-btn--primary c-btn--sm', 'data-action': 'resolve', onclick: () => void this.resolve(current) },
                  'Resolve dispute',
                )
              : null,
            current.state === 'failed' && !a.retry ? h('p', { class: 'ld-note' }, 'A supervisor or finance can retry this record.') : null,
          ),
        ),
      );
    }
    const settled = !current || ['rejected', 'closed', 'cancelled', 'resolved', 'confirmed'].includes(current.state);
    if (settled && canFile)
      out.push(
        h(
          'div',
          { class: 'ld-actions' },
          h(
            'button',
            { type: 'button', class: 'c-btn c-btn--primary c-btn--sm', 'data-action': 'file', onclick: () => void this.openForm('file') },
            current ? 'File a new request' : 'File a request',
          ),
        ),
      );
    if (v.records.length > 1)
      out.push(h('p', { class: 'ld-note' }, `${v.records.length - 1} earlier record${v.records.length > 2 ? 's' : ''} on this ticket.`));
    if (v.account) out.push(accountPanel(v.account));
    out.push(h('p', { class: 'ld-note ld-updated' }, `Updated ${when(new Date().toISOString())}`));
    return out;
  }

  private draftProblems(r: RecordView): HTMLElement {
    return h(
      'section',
      { class: 'ld-section ld-draft' },
      h('h3', { class: 'ld-section__title' }, 'Keeping it a draft'),
      h(
        'ul',
        { class: 'ld-problems' },
        r.problems.map((p) => h('li', { 'data-problem-field': p.field_name ?? '' }, h('strong', {}, p.ticket_field ?? p.field ?? 'Request'), ': ', p.message)),
      ),
    );
  }

  private formSection(): HTMLElement {
    const form = this.state.form!;
    const session = this.state.session!;
    const title = { file: 'File a request', fix: 'Fix the draft', ticket: 'Request on this new ticket' }[form.target];
    return h(
      'section',
      { class: 'ld-form-section', 'data-form': form.target },
      h('h2', { class: 'ld-form__title' }, title),
      renderForm({ session, values: form.values, problems: form.problems, onChange: (n, v) => this.onChange(n, v) }),
      h('div', { id: 'ld-form-actions' }, this.formActions()),
    );
  }

  private renderFormActions(): void {
    document.getElementById('ld-form-actions')?.replaceChildren(this.formActions());
  }

  private formActions(): HTMLElement {
    const form = this.state.form!;
    const p = form.preview;
    const submitLabel = { file: 'File request', fix: 'Fix and submit', ticket: 'Put on the ticket' }[form.target];
    const canSubmit = form.target === 'ticket' || !!p?.quote;
    return h(
      'div',
      { class: 'ld-form__actions' },
      p
        ? h(
            'div',
            { class: `c-callout ${p.quote ? 'c-callout--success' : 'c-callout--warning'} ld-preview`, role: 'status' },
            h('p', { class: 'c-callout__paragraph' }, p.quote ? netWords(p.record.amount) : 'Not ready: fix the fields marked above.'),
            p.record.effective_at ? h('p', { class: 'c-callout__paragraph' }, `Takes effect ${when(p.record.effective_at)}`) : null,
            p.quote && p.approval ? h('p', { class: 'c-callout__paragraph ld-outlook' }, approvalWords(p.approval)) : null,
            p.quote && p.approval?.risk.length
              ? h(
                  'ul',
                  { class: 'ld-note ld-outlook-risk' },
                  p.approval.risk.map((r) => h('li', {}, `${r.flag.replace(/_/g, ' ')}: ${r.message}`)),
                )
              : null,
            p.quote ? h('p', { class: 'ld-note' }, `Computed ${when(p.as_of)}; filing now stores exactly these figures.`) : null,
          )
        : null,
      h(
        'div',
        { class: 'ld-actions' },
        h('button', { type: 'button', class: 'c-btn c-btn--sm', 'data-action': 'preview', disabled: form.busy, onclick: () => void this.preview() }, 'Preview'),
        h(
          'button',
          {
            type: 'button',
            class: 'c-btn c-btn--primary c-btn--sm',
            'data-action': 'submit',
            disabled: form.busy || !canSubmit,
            onclick: () => void this.submit(),
          },
          submitLabel,
        ),
        form.target !== 'ticket'
          ? h(
              'button',
              {
                type: 'button',
                class: 'c-btn c-btn--basic c-btn--sm',
                'data-action': 'back',
                onclick: () => {
                  this.state.form = null;
                  this.render();
                },
              },
              'Back',
            )
          : null,
      ),
    );
  }

  /** The sidebar fits its content: Zendesk sizes the iframe to what the app asks for. */
  private watchSize(): void {
    let last = 0;
    const resize = () => {
      // The body, not the root element: the root is at least as tall as the frame, so it would never shrink.
      const height = Math.ceil(document.body.getBoundingClientRect().height);
      if (Math.abs(height - last) < 2) return;
      last = height;
      void this.client.invoke('resize', { width: '100%', height: `${height}px` });
    };
    new ResizeObserver(resize).observe(document.body);
    resize();
  }
}

/** What the policy would do with the request, as the preview says. */
function approvalWords(a: NonNullable<PreviewView['approval']>): string {
  return a.approvals_required === 0
    ? 'Approved automatically by the policy once filed.'
    : `Needs ${a.approvals_required} approval${a.approvals_required === 1 ? '' : 's'} in Slack (${a.rule}).`;
}

start();
