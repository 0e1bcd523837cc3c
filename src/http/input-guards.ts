/**
 * Text that cannot be stored faithfully. PostgreSQL refuses NUL in text and jsonb, and a lone
 * UTF-16 surrogate (half of a pair, as `"\ud800"` in JSON) is either refused inside jsonb or
 * silently replaced by U+FFFD in text, which would also make a hashed audit event fail to verify
 * later. Such input is refused at the edge, naming where it is, instead of failing (500) or
 * being altered deep inside a transaction.
 */

export interface UnstorableText {
  /** Dotted path of the value (`account_id`, `details.to_plan`, `query.account_id`). */
  readonly field: string;
  readonly message: string;
}

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const describe = (s: string, allowNul: boolean): string | null => {
  if (!allowNul && s.includes('\u0000')) return 'contains a NUL character, which cannot be stored';
  if (LONE_SURROGATE.test(s)) return 'contains a lone UTF-16 surrogate (half of a character), which cannot be stored';
  return null;
};

/**
 * The first string (or object key) in `value` that cannot be stored, or null. `allowNul` for
 * callers that strip NULs themselves. Walks at most 100,000 values (bodies are capped far below).
 */
export function findUnstorableText(value: unknown, path = '', opts: { allowNul?: boolean } = {}): UnstorableText | null {
  const allowNul = opts.allowNul ?? false;
  const maxNodes = 100_000;
  const stack: [unknown, string][] = [[value, path]];
  let seen = 0;
  while (stack.length > 0 && seen++ < maxNodes) {
    const [v, p] = stack.pop()!;
    if (typeof v === 'string') {
      const why = describe(v, allowNul);
      if (why) return { field: p, message: why };
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push([item, p ? `${p}.${i}` : String(i)]));
    } else if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
      for (const [k, item] of Object.entries(v)) {
        const at = p ? `${p}.${k}` : k;
        const why = describe(k, allowNul);
        if (why) return { field: at, message: `the key ${why}` };
        stack.push([item, at]);
      }
    }
  }
  return null;
}

/** Dates written as years 0000 are not dates: ISO 8601 calendar years (and PostgreSQL) start at 0001. */
const YEAR_ZERO = /^0000-\d{2}-\d{2}(?:$|T)/;

/** The first date-like string in `value` with year 0000, or null. */
export function findYearZeroDate(value: unknown, path = ''): UnstorableText | null {
  const stack: [unknown, string][] = [[value, path]];
  while (stack.length > 0) {
    const [v, p] = stack.pop()!;
    if (typeof v === 'string') {
      if (YEAR_ZERO.test(v.trim())) return { field: p, message: `"${v.trim().slice(0, 40)}" is not a date: calendar years start at 0001` };
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push([item, p ? `${p}.${i}` : String(i)]));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) stack.push([item, p ? `${p}.${k}` : k]);
    }
  }
  return null;
}
