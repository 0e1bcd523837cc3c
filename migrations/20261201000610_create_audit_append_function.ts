import type { Knex } from 'knex';

/**
 * One round trip per append: `audit_append` locks the heads of every account it is given (in
 * sorted order, so two appenders cannot deadlock), chains each event onto its account's head —
 * seq + 1, prev_hash = the head's hash, hash = SHA-256 of the event's canonical JSON — inserts it,
 * and moves the heads, all inside the caller's transaction (or as one autocommit statement).
 *
 * The canonical JSON is the one `computeEventHash` hashes (src/records/audit.ts): the caller sends
 * it in three pieces around the two values only the database knows at that moment, the previous
 * hash and the seq, so the bytes hashed are exactly those `audit verify` recomputes.
 * Events must arrive grouped by account (the caller sorts them); each account's run is chained in
 * the order given.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION audit_append(
      p_account text[], p_record uuid[], p_type text[], p_actor jsonb[], p_at timestamptz[], p_data jsonb[],
      p_head text[], p_mid text[], p_tail text[]
    ) RETURNS TABLE (event_id bigint, event_account text, event_seq int, event_prev text, event_hash text)
    LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
    DECLARE
      n int := coalesce(array_length(p_account, 1), 0);
      i int := 1;
      acc text;
      cur_seq int;
      cur_hash text;
      next_hash text;
    BEGIN
      IF n = 0 THEN RETURN; END IF;
      -- Lock every head first, in byte order of the account ids (the order lockHeads uses too), so
      -- that two appenders touching the same accounts cannot deadlock. A plain row lock, not an upsert: the head row
      -- gets one new version per call (the move below), not two.
      FOR acc IN SELECT a FROM unnest(p_account) AS a GROUP BY a ORDER BY a COLLATE "C" LOOP
        PERFORM 1 FROM audit_heads h WHERE h.account_id = acc FOR UPDATE;
        IF NOT FOUND THEN
          INSERT INTO audit_heads (account_id, seq, hash) VALUES (acc, 0, NULL) ON CONFLICT (account_id) DO NOTHING;
          PERFORM 1 FROM audit_heads h WHERE h.account_id = acc FOR UPDATE;
        END IF;
      END LOOP;
      WHILE i <= n LOOP
        acc := p_account[i];
        SELECT h.seq, h.hash INTO cur_seq, cur_hash FROM audit_heads h WHERE h.account_id = acc;
        WHILE i <= n AND p_account[i] = acc LOOP
          cur_seq := cur_seq + 1;
          next_hash := encode(sha256(convert_to(
            p_head[i] || coalesce('"' || cur_hash || '"', 'null') || p_mid[i] || cur_seq::text || p_tail[i], 'UTF8')), 'hex');
          INSERT INTO audit_events (account_id, seq, record_id, type, actor, occurred_at, data, prev_hash, hash)
            VALUES (acc, cur_seq, p_record[i], p_type[i], p_actor[i], p_at[i], p_data[i], cur_hash, next_hash)
            RETURNING id INTO event_id;
          event_account := acc;
          event_seq := cur_seq;
          event_prev := cur_hash;
          event_hash := next_hash;
          RETURN NEXT;
          cur_hash := next_hash;
          i := i + 1;
        END LOOP;
        UPDATE audit_heads SET seq = cur_seq, hash = cur_hash, updated_at = now() WHERE account_id = acc;
      END LOOP;
    END $$;
  `);
  // The service appends through it with its own privileges (INSERT on audit_events, UPDATE on audit_heads).
  await knex.raw('REVOKE ALL ON FUNCTION audit_append(text[], uuid[], text[], jsonb[], timestamptz[], jsonb[], text[], text[], text[]) FROM PUBLIC');
  await knex.raw('GRANT EXECUTE ON FUNCTION audit_append(text[], uuid[], text[], jsonb[], timestamptz[], jsonb[], text[], text[], text[]) TO lifecycle_desk_app');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION audit_append(text[], uuid[], text[], jsonb[], timestamptz[], jsonb[], text[], text[], text[])');
}
