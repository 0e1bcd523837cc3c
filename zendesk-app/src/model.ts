/** The JSON the service answers (src/app/record-summary.ts and src/http/zaf.routes.ts), as the sidebar reads it. */

import type { Problem } from './api';

export interface MoneyView {
  readonly amount_minor: number;
  readonly currency: string;
  readonly text: string;
}

export interface RecordView {
  readonly id: string;
  readonly kind: string;
  readonly kind_label: string;
  readonly subtype: string;
  readonly subtype_label: string;
  readonly state: string;
  readonly state_words: string;
  readonly version: number;
  readonly account_id: string;
  readonly ticket_id: string | null;
  readonly requested_by: string;
  readonly reason_code: string;
  readonly change: string;
  readonly effective: string | null;
  readonly effective_at: string | null;
  readonly problems: readonly Problem[];
  readonly money: {
    readonly net: MoneyView | null;
    readonly price_delta: MoneyView | null;
    readonly proration: {
      readonly credit: MoneyView;
      readonly charge: MoneyView;
      readonly net: MoneyView;
      readonly period_start: string;
      readonly period_end: string;
    } | null;
    readonly sla_credit: {
      readonly requested: MoneyView | null;
      readonly computed: MoneyView | null;
      readonly period_charges: MoneyView | null;
      readonly verification: string | null;
      readonly note: string | null;
    } | null;
    readonly fee: { readonly amount: MoneyView; readonly waived: boolean } | null;
    readonly refund: MoneyView | null;
    readonly provider_preview: {
      readonly provider: string;
      readonly amount: MoneyView | null;
      readonly computed: MoneyView | null;
      readonly difference: MoneyView | null;
      readonly outstanding: MoneyView | null;
      readonly unavailable: string | null;
    } | null;
  };
  readonly risk: readonly { readonly flag: string; readonly message: string | null }[];
  readonly approvals: {
    readonly required: number;
    readonly approved_by: readonly { readonly id: string; readonly at: string }[];
    readonly rejected_by: readonly { readonly id: string; readonly at: string; readonly reason: string | null }[];
    readonly still_needed: number;
    readonly approvers: { readonly user_ids: readonly string[]; readonly user_groups: readonly string[] };
    readonly outcome: string | null;
    readonly slack: { readonly url: string } | null;
  } | null;
  readonly billing: {
    readonly status: 'none' | 'pending' | 'done' | 'failed';
    readonly effects: readonly {
      readonly step: string;
      readonly effect: string;
      readonly status: string;
      readonly provider: string;
      readonly error: string | null;
      readonly confirmed: readonly { readonly type: string; readonly purpose: string; readonly amount: MoneyView }[];
    }[];
  };
  readonly emails: readonly { readonly outcome: string; readonly status: string; readonly subject: string | null; readonly sent_at: string | null }[];
  readonly timeline: readonly { readonly at: string; readonly words: string }[];
  readonly actions?: { readonly fix: boolean; readonly cancel: boolean; readonly retry: boolean; readonly dispute?: boolean; readonly resolve?: boolean };
}

export interface AccountView {
  readonly id: string;
  readonly name: string;
  readonly plan_name: string;
  readonly status: string;
  readonly mrr: MoneyView;
  readonly term_end: string;
  readonly recent: readonly {
    readonly id: string;
    readonly kind_label: string;
    readonly subtype: string;
    readonly state: string;
    readonly ticket_id: string | null;
    readonly created_at: string;
  }[];
}

export interface TicketView {
  readonly ticket_id: string;
  readonly records: readonly RecordView[];
  readonly account: AccountView | null;
  readonly stamp: string;
}

export interface FieldInfo {
  readonly name: string;
  readonly id: number;
  readonly label: string;
  readonly ticket_field: string;
}

export interface Session {
  readonly agent: { readonly zendesk_user_id: string; readonly email: string; readonly name: string | null };
  readonly role: 'agent' | 'supervisor' | 'finance' | 'admin';
  readonly actions: readonly string[];
  readonly field_map: {
    readonly fields: readonly FieldInfo[];
    readonly value_prefix: string;
    readonly values: Readonly<Record<string, Readonly<Record<string, string>>>>;
  };
  readonly choices: {
    readonly kinds: readonly string[];
    readonly subtypes: Readonly<Record<string, readonly string[]>>;
    /** The ticket fields each kind uses (the service's kind modules say). */
    readonly kind_fields: Readonly<Record<string, readonly string[]>>;
    readonly plans: readonly { readonly id: string; readonly name: string }[];
    readonly support_tiers: readonly { readonly id: string; readonly name: string }[];
    readonly features: readonly string[];
  };
}

export interface PreviewView {
  readonly as_of: string;
  readonly record: {
    readonly kind: string;
    readonly subtype: string;
    readonly state: string;
    readonly effective: string | null;
    readonly effective_at: string | null;
    readonly amount: MoneyView | null;
    readonly details: Record<string, unknown>;
  };
  readonly problems: readonly Problem[];
  readonly quote: string | null;
  readonly approval?: {
    readonly rule: string;
    readonly approvals_required: number;
    readonly risk: readonly { readonly flag: string; readonly message: string }[];
  } | null;
}
