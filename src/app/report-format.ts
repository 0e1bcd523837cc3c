import { stringify } from 'csv-stringify/sync';
import { toDecimalString } from '../records/money';
import type { Report, SectionRow } from './reports';

/**
 * A report as JSON (what the API returns), CSV (one table: a `section` column, then every
 * dimension and measure of the report; cells a section does not have are empty) or a text table
 * per section for people (money in major units of its currency). JSON and CSV carry the same
 * values as the API; the table only formats them.
 */

export type ReportFormat = 'json' | 'csv' | 'table';

export const formatReportJson = (report: Report): string => `${JSON.stringify(report, null, 2)}\n`;

const cell = (v: SectionRow[string] | undefined): string => (v === null || v === undefined ? '' : String(v));

export function formatReportCsv(report: Report): string {
  const columns: string[] = [];
  for (const s of report.sections) for (const c of [...s.dimensions, ...s.measures.map((m) => m.key)]) if (!columns.includes(c)) columns.push(c);
  const rows: string[][] = [];
  for (const s of report.sections) for (const r of s.rows) rows.push([s.name, ...columns.map((c) => cell(r[c]))]);
  return stringify(rows, { header: true, columns: ['section', ...columns], eof: true });
}

function shown(report: Report, sectionIndex: number, row: SectionRow, key: string): string {
  const s = report.sections[sectionIndex]!;
  const v = row[key];
  if (v === null || v === undefined) return '-';
  const m = s.measures.find((x) => x.key === key);
  if (m?.type === 'money' && typeof row.currency === 'string' && /^[A-Z]{3}$/.test(row.currency))
    return toDecimalString({ amount_minor: Number(v), currency: row.currency });
  if (m?.type === 'share') return `${(Number(v) * 100).toFixed(2)}%`;
  if (m?.type === 'seconds') return `${(Number(v) / 3600).toFixed(2)} h`;
  if (key === 'reason' && report.labels.reason[String(v)] && report.labels.reason[String(v)] !== v) return `${String(v)} (${report.labels.reason[String(v)]})`;
  return String(v);
}

export function formatReportTable(report: Report): string {
  const out: string[] = [
    `${report.report} report, ${report.from} to ${report.to} (exclusive)${report.group_by.length ? `, grouped by ${report.group_by.join(', ')}` : ''}`,
  ];
  report.sections.forEach((s, i) => {
    const keys = [...s.dimensions, ...s.measures.map((m) => m.key)];
    const heads = keys.map((k) => k.replace(/_minor$/, ''));
    const body = s.rows.map((r) => keys.map((k) => shown(report, i, r, k)));
    const widths = heads.map((h, c) => Math.max(h.length, ...body.map((b) => b[c]!.length)));
    const line = (cells: string[]) =>
      cells
        .map((x, c) => (c < s.dimensions.length ? x.padEnd(widths[c]!) : x.padStart(widths[c]!)))
        .join('  ')
        .trimEnd();
    out.push('', `${s.title} (${s.name})`, line(heads), widths.map((w) => '-'.repeat(w)).join('  '));
    if (body.length === 0) out.push('(none)');
    for (const b of body) out.push(line(b));
  });
  return `${out.join('\n')}\n`;
}

export function formatReport(report: Report, format: ReportFormat): string {
  return format === 'json' ? formatReportJson(report) : format === 'csv' ? formatReportCsv(report) : formatReportTable(report);
}
