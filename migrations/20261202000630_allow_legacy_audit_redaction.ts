import type { Knex } from 'knex';

/**
 * Erasure for events written before personal data moved out of the chain
 * (…_create_personal_data). Such an event holds contact emails or free text in its hashed data;
 * rewriting them would break its hash. `audit_redact_legacy(account)` (run by `privacy erase`)
 * blanks those values in place and stamps `redacted_at`; the event keeps its hash, so the chain's
 * links still verify, and `audit verify` checks a redacted event by its place in the chain instead
 * of by recomputing its content, and requires a later `privacy.erased` event (hashed, in the same
 * chain) that lists its seq in `redacted_seqs` (README "Privacy").
 *
 * Only the function can do this: it runs as the tables' owner, and the append-only trigger lets
 * exactly this UPDATE through, from the owner, with the function's flag set, blanking strings under
 * the personal keys and nothing else. Events written since hold references and have nothing to blank.
 */
const PERSONAL_KEYS = ['contacts', 'email', 'name', 'requester', 'feedback', 'note', 'resolution', 'offer', 'cause', 'reason_text', 'reason', 'subject'];

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE audit_events ADD COLUMN redacted_at timestamptz');
  await knex.raw(`
    CREATE FUNCTION jsonb_redact_personal(v jsonb, system_actor boolean, under boolean DEFAULT false) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE k text; x jsonb; o jsonb; i int;
    BEGIN
      IF v IS NULL THEN RETURN v; END IF;
      CASE jsonb_typeof(v)
        WHEN 'string' THEN
          IF under AND v <> '""'::jsonb THEN RETURN '"[erased]"'::jsonb; END IF;
          RETURN v;
        WHEN 'array' THEN
          o := '[]'::jsonb;
          FOR i IN 0 .. jsonb_array_length(v) - 1 LOOP
            o := o || jsonb_build_array(jsonb_redact_personal(v -> i, system_actor, under));
          END LOOP;
          RETURN o;
        WHEN 'object' THEN
          -- A reference to the side table is not personal data itself.
          IF jsonb_exists(v, '$pd') AND (SELECT count(*) FROM jsonb_object_keys(v)) = 1 THEN RETURN v; END IF;
          o := '{}'::jsonb;
          FOR k, x IN SELECT * FROM jsonb_each(v) LOOP
            o := o || jsonb_build_object(k, jsonb_redact_personal(x, system_actor,
              under OR (k = ANY(ARRAY[${PERSONAL_KEYS.map((k) => `'${k}'`).join(', ')}]) AND NOT (k = 'reason' AND system_actor))));
          END LOOP;
          RETURN o;
        ELSE RETURN v;
      END CASE;
    END $$;
  `);
  await knex.raw(`
    CREATE OR REPLACE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE'
         AND current_setting('lifecycle_desk.audit_redact', true) = 'on'
         AND current_user = (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = TG_RELID)
         AND OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
         AND (to_jsonb(NEW) - 'data' - 'redacted_at') = (to_jsonb(OLD) - 'data' - 'redacted_at')
         AND jsonb_only_blanked(OLD.data, NEW.data) THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;
  `);
  await knex.raw(`
    CREATE FUNCTION audit_redact_legacy(p_account text) RETURNS int[] LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE seqs int[];
    BEGIN
      PERFORM set_config('lifecycle_desk.audit_redact', 'on', true);
      WITH done AS (
        UPDATE audit_events e SET data = jsonb_redact_personal(e.data, e.actor->>'role' = 'system'), redacted_at = now()
         WHERE e.account_id = p_account AND e.redacted_at IS NULL AND jsonb_redact_personal(e.data, e.actor->>'role' = 'system') <> e.data
        RETURNING e.seq)
      SELECT coalesce(array_agg(seq ORDER BY seq), '{}') INTO seqs FROM done;
      PERFORM set_config('lifecycle_desk.audit_redact', 'off', true);
      RETURN seqs;
    END $$;
  `);
  await knex.raw('REVOKE ALL ON FUNCTION audit_redact_legacy(text) FROM PUBLIC');
  await knex.raw('GRANT EXECUTE ON FUNCTION audit_redact_legacy(text) TO lifecycle_desk_app');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION audit_redact_legacy(text)');
  await knex.raw(`
    CREATE OR REPLACE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;
  `);
  await knex.raw('DROP FUNCTION jsonb_redact_personal(jsonb, boolean, boolean)');
  await knex.raw('ALTER TABLE audit_events DROP COLUMN redacted_at');
}
