import type { Knex } from 'knex';

/**
 * A chain head only moves forward. New heads start empty (seq 0), and an update may only advance
 * the seq (or touch the row at the same seq and hash, which is how appends lock it). Rewinding a
 * head to hide deleted newest events therefore needs the triggers switched off, which only the
 * owner or a superuser can do; signed checkpoints (`audit checkpoint`) catch even that.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION audit_heads_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION 'audit_heads: % refused; chain heads are never removed', TG_OP USING ERRCODE = 'insufficient_privilege';
      ELSIF TG_OP = 'INSERT' THEN
        IF NEW.seq <> 0 OR NEW.hash IS NOT NULL THEN
          RAISE EXCEPTION 'audit_heads: a new chain head starts at seq 0 (account %)', NEW.account_id USING ERRCODE = 'insufficient_privilege';
        END IF;
      ELSIF NEW.account_id IS DISTINCT FROM OLD.account_id OR NEW.seq < OLD.seq
            OR (NEW.seq = OLD.seq AND NEW.hash IS DISTINCT FROM OLD.hash) THEN
        RAISE EXCEPTION 'audit_heads: the head of account % may only move forward (seq % -> %)', OLD.account_id, OLD.seq, NEW.seq
          USING ERRCODE = 'insufficient_privilege';
      END IF;
      RETURN NEW;
    END $$;
  `);
  await knex.raw('CREATE TRIGGER audit_heads_forward_only BEFORE INSERT OR UPDATE ON audit_heads FOR EACH ROW EXECUTE FUNCTION audit_heads_forward_only()');
  await knex.raw('CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON audit_heads FOR EACH ROW EXECUTE FUNCTION audit_heads_forward_only()');
  await knex.raw('CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON audit_heads FOR EACH STATEMENT EXECUTE FUNCTION audit_heads_forward_only()');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TRIGGER audit_heads_no_truncate ON audit_heads');
  await knex.raw('DROP TRIGGER audit_heads_no_delete ON audit_heads');
  await knex.raw('DROP TRIGGER audit_heads_forward_only ON audit_heads');
  await knex.raw('DROP FUNCTION audit_heads_forward_only()');
}
