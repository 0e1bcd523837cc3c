import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('lifecycle_records', (t) => {
    t.uuid('id').primary();
    t.text('kind').notNullable();
    t.text('subtype').notNullable();
    // No foreign key: a draft may name an account that does not exist yet (that is one of its problems).
    t.text('account_id').notNullable();
    t.text('ticket_id');
    t.text('requested_by').notNullable();
    t.jsonb('requester');
    t.text('reason_code').notNullable();
    t.text('reason_text').notNullable().defaultTo('');
    t.text('effective');
    t.timestamp('effective_at', { useTz: true });
    t.text('state').notNullable();
    t.integer('version').notNullable();
    t.jsonb('details').notNullable();
    t.bigInteger('amount_minor');
    t.specificType('currency', 'char(3)');
    t.jsonb('risk_flags').notNullable().defaultTo('[]');
    t.jsonb('problems').notNullable().defaultTo('[]');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.index(['account_id', 'created_at']);
    t.index(['ticket_id']);
    t.index(['state']);
  });
  await knex.raw(`ALTER TABLE lifecycle_records ADD CONSTRAINT lifecycle_records_kind_check
    CHECK (kind IN ('downgrade','upgrade','termination','status_change','service_credit'))`);
  await knex.raw(`ALTER TABLE lifecycle_records ADD CONSTRAINT lifecycle_records_state_check
    CHECK (state IN ('draft','submitted','pending_approval','approved','rejected','scheduled','applying',
                     'applied','failed','confirmed','closed','cancelled','disputed','resolved'))`);
  await knex.raw(`ALTER TABLE lifecycle_records ADD CONSTRAINT lifecycle_records_money_check
    CHECK ((amount_minor IS NULL) = (currency IS NULL))`);
  await knex.raw('ALTER TABLE lifecycle_records ADD CONSTRAINT lifecycle_records_version_check CHECK (version >= 1)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('lifecycle_records');
}
