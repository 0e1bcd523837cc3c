import fc from 'fast-check';
import { canonicalJson, chainEvents, computeEventHash, hashedContent, hashedContentPieces, verifyChain } from '../../src/records/audit';
import type { AuditEvent, AuditEventDraft } from '../../src/records/audit';

const draft = (n: number): AuditEventDraft => ({
  account_id: 'acc_1',
  record_id: null,
  type: 'test',
  actor: { role: 'system', id: 'x' },
  occurred_at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
  data: { n },
});

const chain = (n: number): AuditEvent[] =>
  chainEvents(
    { seq: 0, hash: null },
    Array.from({ length: n }, (_, i) => draft(i + 1)),
  ).map((e, i) => ({ ...e, id: String(i + 1) }));

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined, x: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"x":2,"z":1}]},"b":1}');
  });
  it('is the same for any key order (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(obj));
        expect(JSON.parse(canonicalJson(obj))).toEqual(JSON.parse(JSON.stringify(obj)));
      }),
    );
  });
  it('refuses non-finite numbers rather than hashing null for them', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/non-finite/);
  });
});

describe('chains', () => {
  it('link each event to the previous hash and verify', () => {
    const events = chain(4);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(events[0]!.prev_hash).toBeNull();
    expect(events[3]!.prev_hash).toBe(events[2]!.hash);
    expect(events[2]!.hash).toBe(computeEventHash(events[2]!));
    expect(verifyChain('acc_1', events, { seq: 4, hash: events[3]!.hash })).toBeNull();
  });
  it('continue from a head', () => {
    const first = chain(2);
    const more = chainEvents({ seq: 2, hash: first[1]!.hash }, [draft(3)]);
    expect(more[0]).toMatchObject({ seq: 3, prev_hash: first[1]!.hash });
  });
  it('catch an altered field', () => {
    const events = chain(3);
    events[1] = { ...events[1]!, data: { n: 99 } };
    expect(verifyChain('acc_1', events, null)).toMatchObject({ event_id: '2', seq: 2, problem: expect.stringMatching(/altered/) });
  });
  it('catch an altered actor', () => {
    const events = chain(3);
    events[2] = { ...events[2]!, actor: { role: 'supervisor', id: 'x' } };
    expect(verifyChain('acc_1', events, null)?.event_id).toBe('3');
  });
  it('catch a missing event', () => {
    const events = chain(3);
    expect(verifyChain('acc_1', [events[0]!, events[2]!], null)).toMatchObject({ event_id: '3', problem: expect.stringMatching(/missing/) });
  });
  it('catch a missing newest event through the head', () => {
    const events = chain(3);
    expect(verifyChain('acc_1', events.slice(0, 2), { seq: 3, hash: events[2]!.hash })?.problem).toMatch(/newest/);
  });
  it('catch a forged prev_hash even when the event re-hashes itself', () => {
    const events = chain(3);
    const forged = { ...events[2]!, prev_hash: 'f'.repeat(64) };
    events[2] = { ...forged, hash: computeEventHash(forged) };
    expect(verifyChain('acc_1', events, null)?.problem).toMatch(/prev_hash/);
  });
});

describe('hashedContentPieces', () => {
  const arbDraft = fc.record({
    account_id: fc.string({ minLength: 1, maxLength: 20 }),
    record_id: fc.option(fc.uuid(), { nil: null }),
    type: fc.string({ minLength: 1, maxLength: 20 }),
    actor: fc.record({ role: fc.constantFrom('agent' as const, 'supervisor' as const, 'system' as const), id: fc.string({ minLength: 1, maxLength: 10 }) }),
    occurred_at: fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
    data: fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null))),
  });

  it('joined around any prev hash and seq, they are exactly the canonical JSON the hash covers', () => {
    fc.assert(
      fc.property(
        arbDraft,
        fc.option(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }), { nil: null }),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        (draft, prev, seq) => {
          const p = hashedContentPieces(draft);
          const joined = p.head + (prev === null ? 'null' : `"${prev}"`) + p.mid + String(seq) + p.tail;
          expect(joined).toBe(canonicalJson(hashedContent({ ...draft, seq, prev_hash: prev })));
        },
      ),
    );
  });
});
