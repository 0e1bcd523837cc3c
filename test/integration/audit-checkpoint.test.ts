import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { computeEventHash } from '../../src/records/audit';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { runCli } from '../helpers/cli';
import { seedChain } from '../helpers/builders.audit';
import { FakeSlack } from '../helpers/fake-slack';
import { startTestService, until } from '../helpers/service';

/**
 * Signed checkpoints anchor the chain heads outside the database: a superuser who switches the
 * triggers off, deletes the newest events and rewinds the heads leaves chains that verify on
 * their own, and only a checkpoint taken before shows the cut.
 */

let t: TestDb;
let dir: string;
let keys: { AUDIT_SIGNING_KEY: string; AUDIT_VERIFY_KEY: string };
beforeAll(async () => {
  t = await createTestDb();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ld-checkpoint-'));
  const gen = await runCli(['audit', 'keygen'], {});
  expect(gen.code).toBe(0);
  keys = Object.fromEntries(
    gen.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('=') as [string, string]),
  ) as typeof keys;
});
afterAll(async () => {
  await t.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
});

const env = () => ({ DATABASE_URL: t.url, ...keys });
const checkpoint = async (file: string) => {
  const r = await runCli(['audit', 'checkpoint', '--out', file], env());
  expect(r).toMatchObject({ code: 0, stderr: expect.stringMatching(/signed \d+ chain head\(s\)/) });
  return JSON.parse(fs.readFileSync(file, 'utf8')) as { chains: { account_id: string; seq: number; hash: string }[]; created_at: string; key_id: string };
};
// An auditor holds only the public key.
const verify = (file: string, account?: string) =>
  runCli(['audit', 'verify', '--checkpoint', file, ...(account ? ['--account', account] : [])], {
    DATABASE_URL: t.url,
    AUDIT_VERIFY_KEY: keys.AUDIT_VERIFY_KEY,
  });

/** The superuser from the issue: triggers off, newest event deleted, head rewound to match. */
async function cutNewest(account: string) {
  await t.admin.transaction(async (trx) => {
    await trx.raw('ALTER TABLE audit_events DISABLE TRIGGER ALL');
    await trx.raw('ALTER TABLE audit_heads DISABLE TRIGGER ALL');
    const newest = await trx('audit_events').where({ account_id: account }).orderBy('seq', 'desc').first();
    await trx('audit_events').where({ id: newest.id }).del();
    const prev = await trx('audit_events').where({ account_id: account }).orderBy('seq', 'desc').first();
    await trx('audit_heads').where({ account_id: account }).update({ seq: prev.seq, hash: prev.hash });
    await trx.raw('ALTER TABLE audit_events ENABLE TRIGGER ALL');
    await trx.raw('ALTER TABLE audit_heads ENABLE TRIGGER ALL');
  });
}

it('signs every chain head with the time, and a later trail that extends it verifies against it', async () => {
  await seedChain(t.db, 'cp-ok-a', 3);
  await seedChain(t.db, 'cp-ok-b', 1);
  const file = path.join(dir, 'ok.json');
  const cp = await checkpoint(file);
  expect(cp.chains).toEqual(
    expect.arrayContaining([expect.objectContaining({ account_id: 'cp-ok-a', seq: 3 }), expect.objectContaining({ account_id: 'cp-ok-b', seq: 1 })]),
  );
  expect(Date.now() - Date.parse(cp.created_at)).toBeLessThan(60_000);
  await seedChain(t.db, 'cp-ok-a', 2);
  const r = await verify(file);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/every chain extends the checkpoint of .* \(\d+ head\(s\)\)/);
  // To stdout as well.
  const out = await runCli(['audit', 'checkpoint'], env());
  expect(JSON.parse(out.stdout)).toMatchObject({ version: 1, algorithm: 'ed25519', key_id: cp.key_id });
});

it('catches the superuser attack (triggers off, newest event deleted, head rewound) that plain verify misses, naming the chain', async () => {
  await seedChain(t.db, 'cp-victim', 4);
  const file = path.join(dir, 'before-attack.json');
  await checkpoint(file);
  await cutNewest('cp-victim');
  const plain = await runCli(['audit', 'verify', '--account', 'cp-victim'], { DATABASE_URL: t.url });
  expect(plain.code).toBe(0);
  const r = await verify(file);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/chain of account cp-victim: the chain is shorter than the signed checkpoint of .*: it ends at seq 3, the checkpoint has seq 4/);
});

it('catches a rewritten newest event even when the chain is as long as before', async () => {
  const events = await seedChain(t.db, 'cp-rewrite', 3);
  const file = path.join(dir, 'before-rewrite.json');
  await checkpoint(file);
  await cutNewest('cp-rewrite');
  // A different third event, chained correctly, as a forger would append it.
  const forged = { ...events[2]!, data: { step: 3, note: 'nothing to see' } };
  const hash = computeEventHash(forged);
  await t.admin.transaction(async (trx) => {
    await trx.raw('ALTER TABLE audit_heads DISABLE TRIGGER ALL');
    await trx('audit_events').insert({ ...forged, id: undefined, actor: JSON.stringify(forged.actor), data: JSON.stringify(forged.data), hash });
    await trx('audit_heads').where({ account_id: 'cp-rewrite' }).update({ seq: 3, hash });
    await trx.raw('ALTER TABLE audit_heads ENABLE TRIGGER ALL');
  });
  expect((await runCli(['audit', 'verify', '--account', 'cp-rewrite'], { DATABASE_URL: t.url })).code).toBe(0);
  const r = await verify(file, 'cp-rewrite');
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/chain of account cp-rewrite: event seq 3 has hash .*, but the signed checkpoint of .* has .* \(history was rewritten\)/);
});

it('refuses a checkpoint that was edited, or signed with another key', async () => {
  await seedChain(t.db, 'cp-edit', 2);
  const file = path.join(dir, 'edited.json');
  const cp = await checkpoint(file);
  const edited = { ...cp, chains: cp.chains.map((h) => (h.account_id === 'cp-edit' ? { ...h, seq: 1 } : h)) };
  fs.writeFileSync(file, JSON.stringify(edited));
  const r = await verify(file);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/cannot be trusted: its signature does not match its content/);
  const other = (await runCli(['audit', 'keygen'], {})).stdout.match(/AUDIT_VERIFY_KEY=(.+)/)![1]!;
  fs.writeFileSync(file, JSON.stringify(cp));
  const wrongKey = await runCli(['audit', 'verify', '--checkpoint', file], { DATABASE_URL: t.url, AUDIT_VERIFY_KEY: other });
  expect(wrongKey.code).toBe(1);
  expect(wrongKey.stderr).toMatch(/signed with key .*, but the verify key is/);
  expect((await runCli(['audit', 'checkpoint'], { DATABASE_URL: t.url })).code).toBe(2);
});

it('posts the checkpoint to a Slack channel', async () => {
  const slack = await FakeSlack.start({ token: 'xoxb-checkpoint' });
  try {
    const r = await runCli(['audit', 'checkpoint', '--out', path.join(dir, 'slack.json'), '--slack', 'C0AUDIT'], {
      ...env(),
      SLACK_BOT_TOKEN: 'xoxb-checkpoint',
      SLACK_API_URL: slack.url,
    });
    expect(r.code).toBe(0);
    const post = slack.callsOf('chat.postMessage').at(-1)!;
    expect(post).toMatchObject({ ok: true, args: { channel: 'C0AUDIT' } });
    expect(post.args.text).toMatch(/Audit checkpoint .*chain head\(s\) signed with key [0-9a-f]{16}; file sha256 [0-9a-f]{64}/);
  } finally {
    await slack.close();
  }
});

it('a worker produces checkpoints periodically, each verifiable', async () => {
  const out = path.join(dir, 'periodic');
  await seedChain(t.db, 'cp-periodic', 2);
  const s = await startTestService(t, {
    web: false,
    worker: true,
    env: { ...keys, AUDIT_CHECKPOINT_DIR: out, AUDIT_CHECKPOINT_INTERVAL_MS: '300' },
  });
  try {
    await until(() => fs.existsSync(out) && fs.readdirSync(out).filter((f) => f.endsWith('.json')).length >= 2, 10_000, 'two periodic checkpoints');
  } finally {
    await s.close();
  }
  const files = fs
    .readdirSync(out)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const r = await verify(path.join(out, files.at(-1)!));
  expect(r.code).toBe(0);
  expect(JSON.parse(fs.readFileSync(path.join(out, files.at(-1)!), 'utf8')).chains).toEqual(
    expect.arrayContaining([expect.objectContaining({ account_id: 'cp-periodic', seq: 2 })]),
  );
});
