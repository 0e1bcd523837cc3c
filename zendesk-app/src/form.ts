import type { Problem } from './api';
import { h } from './dom';
import type { FieldInfo, Session } from './model';

/**
 * The request form: one input per ticket field of the service's field map, holding what that
 * ticket field holds. It is prefilled from the ticket (`ticket.customField:custom_field_<id>`),
 * shows each problem under the field it concerns, and on a new ticket can write itself back into
 * the ticket's fields.
 */

export type FormValue = string | boolean | string[] | null;
export type FormValues = Record<string, FormValue>;

/** Fields shown for every kind; then the ones the chosen kind uses, as the session says (a field with a problem is always shown). */
const COMMON = ['kind', 'subtype', 'account_id', 'reason_code', 'reason_text', 'effective', 'effective_date'];
const DATES = new Set(['effective_date', 'termination_date', 'review_date', 'data_retention_until', 'period_start', 'period_end']);
const LONG = new Set(['reason_text', 'feedback', 'suspension_cause', 'retention_offer']);

export const fieldsFor = (session: Session, values: FormValues, problemFields: ReadonlySet<string>): FieldInfo[] => {
  const kind = typeof values.kind === 'string' ? values.kind : null;
  const wanted = new Set([...COMMON, ...(kind ? (session.choices.kind_fields[kind] ?? []) : []), ...problemFields]);
  // The date only matters when the change takes effect "on a date" (or the ticket already has one).
  if (values.effective !== 'date' && !values.effective_date && !problemFields.has('effective_date')) wanted.delete('effective_date');
  return session.field_map.fields.filter((f) => wanted.has(f.name));
};

/** A ticket field's value as the form holds it: dropdown tags translated (`lc_upgrade` → `upgrade`). */
export function fromTicketValue(session: Session, name: string, raw: unknown): FormValue {
  if (raw === null || raw === undefined || raw === '') return null;
  const { value_prefix: prefix, values } = session.field_map;
  const plain = (s: string) => values[name]?.[s] ?? (prefix && s.startsWith(prefix) ? s.slice(prefix.length) : s);
  if (typeof raw === 'boolean') return raw;
  if (Array.isArray(raw)) return raw.map((x) => plain(String(x)));
  return plain(String(raw));
}

/** A form value as the ticket field stores it: dropdown values back to their tags. */
export function toTicketValue(session: Session, name: string, value: FormValue): unknown {
  if (value === null || value === '') return null;
  const { value_prefix: prefix, values } = session.field_map;
  const tagOf = (v: string) => Object.entries(values[name] ?? {}).find(([, plain]) => plain === v)?.[0] ?? `${prefix}${v}`;
  const dropdowns = new Set(['kind', 'subtype', 'effective', 'from_plan', 'to_plan', 'to_support_tier', 'currency', 'retention_outcome']);
  if (Array.isArray(value)) return value.map((v) => `${prefix}${v}`);
  if (typeof value === 'string' && dropdowns.has(name) && name !== 'currency') return tagOf(value);
  return value;
}

/** Choices for dropdown fields; null: free text. */
function choicesOf(session: Session, name: string, values: FormValues): { value: string; label: string }[] | null {
  const c = session.choices;
  const words = (s: string) => s.replace(/_/g, ' ');
  switch (name) {
    case 'kind':
      return c.kinds.map((k) => ({ value: k, label: words(k) }));
    case 'subtype': {
      const kind = typeof values.kind === 'string' ? values.kind : null;
      return (kind ? (c.subtypes[kind] ?? []) : []).map((s) => ({ value: s, label: words(s) }));
    }
    case 'effective':
      return [
        { value: 'immediate', label: 'immediately' },
        { value: 'end_of_term', label: 'at the end of the term' },
        { value: 'date', label: 'on a date' },
      ];
    case 'from_plan':
    case 'to_plan':
      return c.plans.map((p) => ({ value: p.id, label: p.name }));
    case 'to_support_tier':
      return c.support_tiers.map((t) => ({ value: t.id, label: t.name }));
    case 'retention_outcome':
      return ['pending', 'accepted', 'declined'].map((v) => ({ value: v, label: v }));
    default:
      return null;
  }
}

export interface FormOptions {
  readonly session: Session;
  readonly values: FormValues;
  readonly problems: readonly Problem[];
  readonly onChange: (name: string, value: FormValue) => void;
}

/** Problems keyed by the form field they concern; the rest (no field) are shown on top. */
export function problemsByField(problems: readonly Problem[]): { byField: Map<string, string[]>; general: string[] } {
  const byField = new Map<string, string[]>();
  const general: string[] = [];
  for (const p of problems) {
    const name = p.field_name ?? null;
    if (name) byField.set(name, [...(byField.get(name) ?? []), p.message]);
    else general.push(p.field ? `${p.field}: ${p.message}` : p.message);
  }
  return { byField, general };
}

export function renderForm(o: FormOptions): HTMLElement {
  const { byField, general } = problemsByField(o.problems);
  const fields = fieldsFor(o.session, o.values, new Set(byField.keys()));
  return h(
    'form',
    { class: 'ld-form', novalidate: true, onsubmit: (e: Event) => e.preventDefault() },
    general.length
      ? h(
          'div',
          { class: 'c-callout c-callout--error ld-general-problems', role: 'alert' },
          h(
            'ul',
            {},
            general.map((g) => h('li', {}, g)),
          ),
        )
      : null,
    fields.map((f) => fieldEl(o, f, byField.get(f.name) ?? [])),
  );
}

function fieldEl(o: FormOptions, f: FieldInfo, problems: string[]): HTMLElement {
  const id = `ld-field-${f.name}`;
  const v = o.values[f.name] ?? null;
  const error = problems.length > 0;
  const set = (value: FormValue) => o.onChange(f.name, value);
  let input: HTMLElement;
  if (f.name === 'fee_waived') {
    input = h('input', {
      id,
      type: 'checkbox',
      class: 'ld-check',
      'data-field': f.name,
      checked: v === true,
      onchange: (e: Event) => set((e.target as HTMLInputElement).checked),
    });
    return h(
      'div',
      { class: `c-field ld-field${error ? ' c-field--error' : ''}`, 'data-field-wrap': f.name },
      h('label', { class: 'c-field__label', for: id }, input, ' ', f.label),
      messages(problems),
    );
  }
  const choices = choicesOf(o.session, f.name, o.values);
  const base = `c-field__input${error ? ' ld-invalid' : ''}`;
  if (choices) {
    input = h(
      'select',
      {
        id,
        class: `${base} c-field__input--select`,
        'data-field': f.name,
        'aria-invalid': error ? 'true' : null,
        onchange: (e: Event) => set((e.target as HTMLSelectElement).value || null),
      },
      h('option', { value: '' }, '—'),
      choices.map((c) => h('option', { value: c.value, selected: c.value === v }, c.label)),
    );
  } else if (LONG.has(f.name)) {
    input = h(
      'textarea',
      {
        id,
        class: `${base} c-field__input--area`,
        rows: 2,
        'data-field': f.name,
        'aria-invalid': error ? 'true' : null,
        oninput: (e: Event) => set((e.target as HTMLTextAreaElement).value || null),
      },
      typeof v === 'string' ? v : '',
    );
  } else {
    const text = Array.isArray(v) ? v.join(', ') : typeof v === 'string' ? v : '';
    input = h('input', {
      id,
      class: base,
      type: DATES.has(f.name) ? 'date' : 'text',
      value: text,
      'data-field': f.name,
      'aria-invalid': error ? 'true' : null,
      oninput: (e: Event) => {
        const s = (e.target as HTMLInputElement).value;
        set(f.name === 'features' ? s.split(/[\s,]+/).filter(Boolean) : s || null);
      },
    });
  }
  return h(
    'div',
    { class: `c-field ld-field${error ? ' c-field--error' : ''}`, 'data-field-wrap': f.name },
    h('label', { class: 'c-field__label', for: id }, f.label),
    input,
    messages(problems),
  );
}

const messages = (problems: string[]) => problems.map((m) => h('div', { class: 'c-field__message ld-problem', role: 'alert' }, m));
