import type { Knex } from 'knex';

/**
 * The built-in billing ledger: double-entry, append-only. A deferred constraint trigger checks at
 * commit that every transaction's debits equal its credits per currency, so no code path can
 * leave the books unbalanced; balances are kept per ledger account in the same transaction.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('ledger_transactions', (t) => {
    t.uuid('id').primary();
    t.text('idempotency_key').notNullable().unique();
    t.uuid('record_id');
    t.text('account_id').notNullable();
    t.text('description').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('ledger_entries', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('transaction_id').notNullable().references('id').inTable('ledger_transactions');
    t.text('ledger_account').notNullable();
    t.bigInteger('debit_minor').notNullable().defaultTo(0);
    t.bigInteger('credit_minor').notNullable().defaultTo(0);
    t.specificType('currency', 'char(3)').notNullable();
    t.index(['ledger_account', 'currency']);
    t.index(['transaction_id']);
  });
  await knex.raw(`ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_one_side
    CHECK (debit_minor >= 0 AND credit_minor >= 0 AND (debit_minor = 0) <> (credit_minor = 0))`);
  await knex.schema.createTable('ledger_balances', (t) => {
    t.text('ledger_account').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    /** Debits minus credits. */
    t.bigInteger('balance_minor').notNullable();
    t.primary(['ledger_account', 'currency']);
  });
  await knex.raw(`
    CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE unbalanced text;
    BEGIN
      SELECT currency INTO unbalanced FROM ledger_entries WHERE transaction_id = NEW.transaction_id
        GROUP BY currency HAVING sum(debit_minor) <> sum(credit_minor) LIMIT 1;
      IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % does not balance in %', NEW.transaction_id, unbalanced USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END $$;
  `);
  await knex.raw(`CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced()`);
  await knex.raw(`
    CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: % refused (post a reversing transaction instead)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;
  `);
  for (const table of ['ledger_transactions', 'ledger_entries']) {
    await knex.raw(`CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()`);
    await knex.raw(`REVOKE UPDATE, DELETE, TRUNCATE ON ${table} FROM PUBLIC, lifecycle_desk_app`);
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('ledger_balances');
  await knex.schema.dropTable('ledger_entries');
  await knex.schema.dropTable('ledger_transactions');
  await knex.raw('DROP FUNCTION ledger_check_balanced()');
  await knex.raw('DROP FUNCTION ledger_refuse_change()');
}
