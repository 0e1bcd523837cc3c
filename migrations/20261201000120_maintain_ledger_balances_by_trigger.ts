import type { Knex } from 'knex';

/**
 * Ledger balances are kept by the ledger itself: a statement trigger on ledger_entries adds each
 * posting's legs to their balances, in the same transaction, in (account, currency) order so two
 * postings cannot deadlock. The function runs as its owner (SECURITY DEFINER), so the service's
 * role needs no INSERT, UPDATE or DELETE on ledger_balances at all and cannot move a balance
 * except by posting entries, which the deferred balance check and the append-only triggers guard.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION ledger_apply_balances() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
      INSERT INTO ledger_balances (ledger_account, currency, balance_minor)
      SELECT ledger_account, currency, sum(debit_minor - credit_minor) FROM new_entries
       GROUP BY ledger_account, currency ORDER BY ledger_account, currency
      ON CONFLICT (ledger_account, currency) DO UPDATE SET balance_minor = ledger_balances.balance_minor + EXCLUDED.balance_minor;
      RETURN NULL;
    END $$;
  `);
  await knex.raw('REVOKE ALL ON FUNCTION ledger_apply_balances() FROM PUBLIC');
  await knex.raw(`CREATE TRIGGER ledger_entries_balances AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_apply_balances()`);
  await knex.raw(`
    CREATE FUNCTION ledger_balances_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'ledger_balances: % refused; balances move only by posting ledger entries', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;
  `);
  await knex.raw('CREATE TRIGGER ledger_balances_no_delete BEFORE DELETE ON ledger_balances FOR EACH ROW EXECUTE FUNCTION ledger_balances_refuse_change()');
  await knex.raw('CREATE TRIGGER ledger_balances_no_truncate BEFORE TRUNCATE ON ledger_balances FOR EACH STATEMENT EXECUTE FUNCTION ledger_balances_refuse_change()');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TRIGGER ledger_balances_no_truncate ON ledger_balances');
  await knex.raw('DROP TRIGGER ledger_balances_no_delete ON ledger_balances');
  await knex.raw('DROP FUNCTION ledger_balances_refuse_change()');
  await knex.raw('DROP TRIGGER ledger_entries_balances ON ledger_entries');
  await knex.raw('DROP FUNCTION ledger_apply_balances()');
}
