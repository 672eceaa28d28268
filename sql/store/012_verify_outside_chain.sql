-- walaudit, audit store: rows outside the chain are findings too.
--
-- Seqs start at 1 and the chain is read from there, so a row given a seq
-- below 1 (inserted by someone who can bypass the append-only rules)
-- broke no link and went unreported, while `walaudit.events` and the
-- reports showed it. verify_chain now reports the lowest such seq first,
-- as `walaudit verify` does; the link-by-link check of 004 keeps its body
-- under a new name.
ALTER FUNCTION walaudit.verify_chain(bigint, bigint) RENAME TO verify_chain_links;

-- Rechecks the chain from from_seq to to_seq (default: all of it): first,
-- when checking from the start, that no row lies before seq 1; then every
-- event by verify_chain_links (004). The first failure is reported with its
-- seq and kind.
CREATE FUNCTION walaudit.verify_chain(from_seq bigint DEFAULT NULL, to_seq bigint DEFAULT NULL)
    RETURNS TABLE (ok boolean, checked bigint, purged bigint, first_bad_seq bigint, problem text)
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog
AS $$
DECLARE
    outside bigint;
BEGIN
    IF coalesce(from_seq, 1) <= 1 THEN
        SELECT min(l.seq) INTO outside FROM walaudit.event_log l WHERE l.seq < 1;
        IF outside IS NOT NULL THEN
            RETURN QUERY SELECT false, 0::bigint, 0::bigint, outside,
                format('seq %s is outside the chain (seqs start at 1): a row was added to the event log', outside);
            RETURN;
        END IF;
    END IF;
    RETURN QUERY SELECT * FROM walaudit.verify_chain_links(from_seq, to_seq);
END
$$;

GRANT EXECUTE ON FUNCTION walaudit.verify_chain(bigint, bigint) TO walaudit_reader, walaudit_admin;
