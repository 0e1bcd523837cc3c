import type { Knex } from 'knex';

/**
 * Per-caller API tokens. Only the SHA-256 of each token is stored (the token is 32 random bytes,
 * so a plain hash is enough: nothing to brute-force); the token itself is shown once, by
 * `lifecycle-desk tokens create`. A token is never deleted: revoking sets `revoked_at`, so the audit
 * trail's actors keep naming a row that says who they were.
 *
 * The service reads tokens (every /api request) and the CLI, which runs as the same role, creates
 * and revokes them: SELECT, INSERT, UPDATE; never DELETE.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_tokens', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable();
    t.text('role').notNullable();
    t.text('token_hash').notNullable().unique();
    t.text('created_by').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).nullable();
    t.timestamp('revoked_at', { useTz: true }).nullable();
    t.text('revoked_by').nullable();
  });
  await knex.raw(`ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('agent', 'supervisor', 'finance', 'admin'))`);
  await knex.raw(`ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$')`);
  // One live token per name: the name is the actor the audit trail records.
  await knex.raw('CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL');
  await knex.raw('REVOKE ALL ON api_tokens FROM lifecycle_desk_app');
  await knex.raw('GRANT SELECT, INSERT, UPDATE ON api_tokens TO lifecycle_desk_app');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('api_tokens');
}
