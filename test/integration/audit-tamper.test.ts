import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { runCli } from '../helpers/cli';
import { asAttacker, seedChain } from '../helpers/builders.audit';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.destroy();
});

const verify = (account?: string) => runCli(['audit', 'verify', ...(account ? ['--account', account] : [])], { DATABASE_URL: t.url });

it('exits 0 with a count when every chain is intact', async () => {
  await seedChain(t.db, 'intact-a', 3);
  await seedChain(t.db, 'intact-b', 2);
  const r = await verify('intact-a');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/intact: 3 event\(s\) in 1 account chain/);
});

it('names the altered event when one payload byte changes', async () => {
  const events = await seedChain(t.db, 'tamper-byte', 5);
  const victim = events[2]!;
  await asAttacker(t.admin, [`UPDATE audit_events SET data = jsonb_set(data, '{note}', '"step 4"') WHERE id = ?`, [victim.id]]);
  const r = await verify('tamper-byte');
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`event ${victim.id} (account tamper-byte, seq 3)`);
  expect(r.stderr).toMatch(/altered/);
});

it('names the event after a deleted one', async () => {
  const events = await seedChain(t.db, 'tamper-delete', 5);
  await asAttacker(t.admin, ['DELETE FROM audit_events WHERE id = ?', [events[1]!.id]]);
  const r = await verify('tamper-delete');
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`event ${events[2]!.id} (account tamper-delete, seq 3)`);
  expect(r.stderr).toMatch(/missing/);
});

it('notices the newest event being deleted', async () => {
  const events = await seedChain(t.db, 'tamper-tail', 4);
  await asAttacker(t.admin, ['DELETE FROM audit_events WHERE id = ?', [events[3]!.id]]);
  const r = await verify('tamper-tail');
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/account tamper-tail, seq 3\).*recorded head is seq 4/);
});

it('names the first event out of place when two rows are swapped', async () => {
  const events = await seedChain(t.db, 'tamper-swap', 5);
  const [second, third] = [events[1]!, events[2]!];
  await asAttacker(
    t.admin,
    ['UPDATE audit_events SET seq = -1 WHERE id = ?', [second.id]],
    ['UPDATE audit_events SET seq = 2 WHERE id = ?', [third.id]],
    ['UPDATE audit_events SET seq = 3 WHERE id = ?', [second.id]],
  );
  const r = await verify('tamper-swap');
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`event ${third.id} (account tamper-swap, seq 2)`);
});

it('without --account, reports the first broken chain among all accounts', async () => {
  const r = await verify();
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/audit trail BROKEN at event \d+ \(account tamper-/);
});
