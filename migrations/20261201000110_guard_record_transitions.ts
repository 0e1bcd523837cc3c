import type { Knex } from 'knex';

/**
 * A lifecycle record changes only by one state-machine transition at a time: every UPDATE must
 * advance `version` by exactly one and move along an allowed (from, to) pair. The pairs are the
 * ones of TRANSITIONS in src/records/state-machine.ts; a test compares the two, so a transition
 * added there needs a migration adding its pair here. The trigger applies to every role (the
 * owner too, unless triggers are switched off), so a stray UPDATE cannot skip the audit trail.
 */
const PAIRS: readonly [string, string][] = [
  ['draft', 'draft'],
  ['draft', 'submitted'],
  ['draft', 'cancelled'],
  ['submitted', 'pending_approval'],
  ['submitted', 'approved'],
  ['pending_approval', 'approved'],
  ['pending_approval', 'rejected'],
  ['pending_approval', 'cancelled'],
  ['approved', 'scheduled'],
  ['approved', 'applying'],
  ['scheduled', 'applying'],
  ['scheduled', 'cancelled'],
  ['applying', 'applied'],
  ['applying', 'failed'],
  ['failed', 'applying'],
  ['applied', 'confirmed'],
  ['applied', 'disputed'],
  ['confirmed', 'closed'],
  ['disputed', 'resolved'],
];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('lifecycle_transitions', (t) => {
    t.text('from_state').notNullable();
    t.text('to_state').notNullable();
    t.primary(['from_state', 'to_state']);
  });
  await knex('lifecycle_transitions').insert(PAIRS.map(([from_state, to_state]) => ({ from_state, to_state })));
  await knex.raw(`
    CREATE FUNCTION lifecycle_records_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.id IS DISTINCT FROM OLD.id OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'lifecycle_records: the id and created_at of record % never change', OLD.id USING ERRCODE = 'check_violation';
      END IF;
      IF NEW.version IS DISTINCT FROM OLD.version + 1 THEN
        RAISE EXCEPTION 'lifecycle_records: record % may only move to version % (one transition at a time), not %', OLD.id, OLD.version + 1, NEW.version
          USING ERRCODE = 'check_violation';
      END IF;
      IF NOT EXISTS (SELECT 1 FROM lifecycle_transitions t WHERE t.from_state = OLD.state AND t.to_state = NEW.state) THEN
        RAISE EXCEPTION 'lifecycle_records: % -> % is not a lifecycle transition (record %)', OLD.state, NEW.state, OLD.id USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$;
  `);
  await knex.raw('CREATE TRIGGER lifecycle_records_state_machine BEFORE UPDATE ON lifecycle_records FOR EACH ROW EXECUTE FUNCTION lifecycle_records_guard_update()');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TRIGGER lifecycle_records_state_machine ON lifecycle_records');
  await knex.raw('DROP FUNCTION lifecycle_records_guard_update()');
  await knex.schema.dropTable('lifecycle_transitions');
}
