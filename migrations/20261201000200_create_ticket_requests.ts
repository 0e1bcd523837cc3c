import type { Knex } from 'knex';

/**
 * What each ticket last asked for: a fingerprint of its request fields and whether it carried the
 * re-request tag. Zendesk re-fires its trigger after every update, the service's own included;
 * comparing with this tells such an echo (same request) from a new request on the same ticket.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('ticket_requests', (t) => {
    t.text('source').notNullable();
    t.text('ticket_id').notNullable();
    t.text('fingerprint').notNullable();
    t.boolean('rerequest').notNullable().defaultTo(false);
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['source', 'ticket_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('ticket_requests');
}
