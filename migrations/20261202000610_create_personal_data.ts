import type { Knex } from 'knex';

/**
 * Personal data outside the hash chain (src/records/personal-data.ts): audit events written from
 * now on keep `{"$pd": id}` where they used to hold a contact email, a name or free text, and the
 * value lives here, erasable. Erasing overwrites the value (NULL) and stamps who and when; the row
 * stays, so the references in the chain still resolve (to "[erased]"). Events written before this
 * migration are left exactly as they are: their hashes were computed over their data and stay valid
 * (see README "Privacy").
 *
 * The same erasure must reach the copies the service works from. A record changes only by a
 * transition (the guard below); erasing is the one other change it allows: same version and state,
 * every other column equal, and in `requester`, `reason_text`, `details` and `problems` only
 * values blanked (NULL, '' or "[erased]"). The service may also blank a decision's reason
 * (column-level UPDATE on approval_decisions.reason, nothing else of that table).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('personal_data', (t) => {
    t.uuid('id').primary();
    t.text('account_id').notNullable().index();
    t.text('kind').notNullable();
    t.text('value');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('erased_at', { useTz: true });
    t.text('erased_by');
  });
  await knex.raw(`ALTER TABLE personal_data ADD CONSTRAINT personal_data_erased_check CHECK ((erased_at IS NULL) = (value IS NOT NULL))`);
  await knex.raw('REVOKE ALL ON personal_data FROM lifecycle_desk_app');
  await knex.raw('GRANT SELECT, INSERT, UPDATE ON personal_data TO lifecycle_desk_app');
  await knex.raw('GRANT UPDATE (reason) ON approval_decisions TO lifecycle_desk_app');

  // True when `new` is `old` with some string values blanked, nothing else changed.
  await knex.raw(`
    CREATE FUNCTION jsonb_only_blanked(old jsonb, new jsonb) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE k text; i int;
    BEGIN
      IF old IS NOT DISTINCT FROM new THEN RETURN true; END IF;
      IF old IS NULL OR new IS NULL THEN RETURN new IS NULL OR new = 'null'::jsonb; END IF;
      IF jsonb_typeof(old) = 'string' THEN RETURN new IN ('"[erased]"'::jsonb, '""'::jsonb); END IF;
      IF jsonb_typeof(old) <> jsonb_typeof(new) THEN RETURN false; END IF;
      IF jsonb_typeof(old) = 'object' THEN
        IF (SELECT array_agg(x ORDER BY x) FROM jsonb_object_keys(old) x) IS DISTINCT FROM (SELECT array_agg(x ORDER BY x) FROM jsonb_object_keys(new) x) THEN RETURN false; END IF;
        FOR k IN SELECT jsonb_object_keys(old) LOOP
          IF NOT jsonb_only_blanked(old -> k, new -> k) THEN RETURN false; END IF;
        END LOOP;
        RETURN true;
      END IF;
      IF jsonb_typeof(old) = 'array' THEN
        IF jsonb_array_length(old) <> jsonb_array_length(new) THEN RETURN false; END IF;
        FOR i IN 0 .. jsonb_array_length(old) - 1 LOOP
          IF NOT jsonb_only_blanked(old -> i, new -> i) THEN RETURN false; END IF;
        END LOOP;
        RETURN true;
      END IF;
      RETURN false;
    END $$;
  `);
  await knex.raw(`
    CREATE OR REPLACE FUNCTION lifecycle_records_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.id IS DISTINCT FROM OLD.id OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'lifecycle_records: the id and created_at of record % never change', OLD.id USING ERRCODE = 'check_violation';
      END IF;
      -- An erasure: nothing but personal values blanked, at the same version and state.
      IF NEW.version = OLD.version AND NEW.state = OLD.state
         AND (to_jsonb(NEW) - 'requester' - 'reason_text' - 'details' - 'problems' - 'updated_at') = (to_jsonb(OLD) - 'requester' - 'reason_text' - 'details' - 'problems' - 'updated_at')
         AND (NEW.requester IS NULL OR NEW.requester = OLD.requester)
         AND (NEW.reason_text IN ('', '[erased]') OR NEW.reason_text = OLD.reason_text)
         AND jsonb_only_blanked(OLD.details, NEW.details) AND jsonb_only_blanked(OLD.problems, NEW.problems) THEN
        RETURN NEW;
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
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION lifecycle_records_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
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
  await knex.raw('DROP FUNCTION jsonb_only_blanked(jsonb, jsonb)');
  await knex.raw('REVOKE UPDATE (reason) ON approval_decisions FROM lifecycle_desk_app');
  await knex.schema.dropTable('personal_data');
}
