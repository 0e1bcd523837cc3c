import type { Knex } from 'knex';

/**
 * Append-only, hash-chained audit trail. Two guards, so one mistake is not enough to rewrite
 * history: the service's role has no UPDATE/DELETE/TRUNCATE privilege, and triggers refuse those
 * operations for everyone, the table owner and superusers included. `audit_heads` holds each
 * account's newest seq and hash: appends lock that one row (so chains never fork while other
 * accounts proceed) and `audit verify` compares against it to notice deleted newest events.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id').primary();
    t.text('account_id').notNullable();
    t.integer('seq').notNullable();
    t.uuid('record_id');
    t.text('type').notNullable();
    t.jsonb('actor').notNullable();
    t.timestamp('occurred_at', { useTz: true }).notNullable();
    t.jsonb('data').notNullable();
    t.text('prev_hash');
    t.text('hash').notNullable();
    t.timestamp('recorded_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['account_id', 'seq']);
    t.index(['record_id']);
    t.index(['occurred_at']);
  });
  await knex.schema.createTable('audit_heads', (t) => {
    t.text('account_id').primary();
    t.integer('seq').notNullable();
    t.text('hash');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`
    CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;
  `);
  await knex.raw(`CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()`);
  await knex.raw(`CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()`);
  await knex.raw('REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC, lifecycle_desk_app');
  await knex.raw('GRANT SELECT, INSERT ON audit_events TO lifecycle_desk_app');
  await knex.raw('REVOKE DELETE, TRUNCATE ON audit_heads FROM PUBLIC, lifecycle_desk_app');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_heads');
  await knex.schema.dropTable('audit_events');
  await knex.raw('DROP FUNCTION audit_events_refuse_change()');
}
