-- walaudit, audit store: the RFC 6962 Merkle tree over the chain
-- (docs/chain-format.md, "Merkle tree and signed checkpoints").
--
-- Leaf i is the chain hash of the event with seq i + 1 (a purge changes no
-- chain hash, so no leaf). The hash of every complete, aligned subtree of
-- 256 leaves or more is stored here by whoever appends: the worker for its
-- batches, append_event for POLICY and GAP events. Smaller subtrees are
-- computed from at most 255 leaves, so a proof reads O(log n) rows.

CREATE TABLE IF NOT EXISTS walaudit.merkle_nodes (
    -- The subtree covers leaves [idx * 2^level, (idx + 1) * 2^level).
    level smallint NOT NULL CHECK (level BETWEEN 8 AND 62),
    idx   bigint NOT NULL CHECK (idx >= 0),
    hash  bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);
SELECT pg_temp.guard_table('walaudit.merkle_nodes', 'walaudit_append_only', 'UPDATE OR DELETE', 'walaudit.reject_event_change');

-- The largest power of two below n (n >= 2): where RFC 6962 splits a tree.
CREATE OR REPLACE FUNCTION walaudit.tree_split(n bigint)
    RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog
AS $$
    SELECT 1::bigint << (64 - position('1' IN (n - 1)::bit(64)::text))
$$;

-- The root of the complete tree over `hashes` (leaf hashes; a power of two
-- of them), pairing neighbours level by level.
CREATE OR REPLACE FUNCTION walaudit.tree_fold(hashes bytea[])
    RETURNS bytea
    LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog
AS $$
BEGIN
    WHILE cardinality(hashes) > 1 LOOP
        hashes := ARRAY(SELECT sha256('\x01'::bytea || hashes[2 * i - 1] || hashes[2 * i])
                        FROM generate_series(1, cardinality(hashes) / 2) i ORDER BY i);
    END LOOP;
    RETURN hashes[1];
END
$$;

-- The hash of leaves [lo, hi) (RFC 6962 MTH of that range): a stored node
-- when the range is one, else split as RFC 6962 splits trees; a range of
-- at most 256 leaves is hashed from the chain hashes it covers.
CREATE OR REPLACE FUNCTION walaudit.subtree_hash(lo bigint, hi bigint)
    RETURNS bytea
    LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog
AS $$
DECLARE
    n bigint := hi - lo;
    k bigint;
    stored bytea;
BEGIN
    IF n < 1 THEN
        RAISE EXCEPTION 'no leaves in [%, %)', lo, hi;
    END IF;
    IF n >= 256 AND n & (n - 1) = 0 AND lo % n = 0 THEN
        SELECT m.hash INTO stored FROM walaudit.merkle_nodes m
        WHERE m.level = 64 - position('1' IN n::bit(64)::text) AND m.idx = lo / n;
        IF FOUND THEN
            RETURN stored;
        END IF;
    END IF;
    IF n & (n - 1) = 0 AND n <= 256 THEN
        RETURN walaudit.tree_fold(ARRAY(SELECT sha256('\x00'::bytea || l.hash) FROM walaudit.event_log l
                                        WHERE l.seq > lo AND l.seq <= hi ORDER BY l.seq));
    END IF;
    k := walaudit.tree_split(n);
    RETURN sha256('\x01'::bytea || walaudit.subtree_hash(lo, lo + k) || walaudit.subtree_hash(lo + k, hi));
END
$$;

-- The number of events: the tree's size.
CREATE OR REPLACE FUNCTION walaudit.tree_size()
    RETURNS bigint
    LANGUAGE sql STABLE SET search_path = pg_catalog
AS $$
    SELECT coalesce(max(seq), 0) FROM walaudit.event_log
$$;

-- The root hash of the tree of the first `tree_size` events (default: all).
CREATE OR REPLACE FUNCTION walaudit.tree_root(tree_size bigint DEFAULT NULL)
    RETURNS bytea
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog
AS $$
DECLARE
    size bigint := coalesce(tree_size, walaudit.tree_size());
BEGIN
    IF size < 0 OR size > walaudit.tree_size() THEN
        RAISE EXCEPTION 'the tree has % events; there is no tree of size %', walaudit.tree_size(), size;
    END IF;
    RETURN CASE WHEN size = 0 THEN sha256(''::bytea) ELSE walaudit.subtree_hash(0, size) END;
END
$$;

-- The inclusion proof of the event `seq` (leaf seq - 1) in the tree of
-- `tree_size` events (default: all): RFC 6962 PATH, from the leaf's
-- sibling up, as c2sp.org/tlog-proof lists it.
CREATE OR REPLACE FUNCTION walaudit.inclusion_proof(seq bigint, tree_size bigint DEFAULT NULL)
    RETURNS bytea[]
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog
AS $$
DECLARE
    size bigint := coalesce(tree_size, walaudit.tree_size());
    lo bigint := 0;
    hi bigint := size;
    m bigint := seq - 1;
    k bigint;
    proof bytea[] := '{}';
BEGIN
    IF size > walaudit.tree_size() OR seq < 1 OR seq > size THEN
        RAISE EXCEPTION 'no event % in a tree of size % (the tree has % events)', seq, size, walaudit.tree_size();
    END IF;
    -- Top down; each sibling goes before the ones found above it.
    WHILE hi - lo > 1 LOOP
        k := walaudit.tree_split(hi - lo);
        IF m < lo + k THEN
            proof := walaudit.subtree_hash(lo + k, hi) || proof;
            hi := lo + k;
        ELSE
            proof := walaudit.subtree_hash(lo, lo + k) || proof;
            lo := lo + k;
        END IF;
    END LOOP;
    RETURN proof;
END
$$;

-- The consistency proof from the tree of `old_size` events to the tree of
-- `new_size` (default: all): RFC 6962 PROOF; empty when old_size is 0 or
-- equals new_size.
CREATE OR REPLACE FUNCTION walaudit.consistency_proof(old_size bigint, new_size bigint DEFAULT NULL)
    RETURNS bytea[]
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog
AS $$
DECLARE
    size bigint := coalesce(new_size, walaudit.tree_size());
    lo bigint := 0;
    hi bigint := size;
    m bigint := old_size;
    complete boolean := true;
    k bigint;
    proof bytea[] := '{}';
BEGIN
    IF size > walaudit.tree_size() OR old_size < 0 OR old_size > size THEN
        RAISE EXCEPTION 'no consistency proof from size % to size % (the tree has % events)', old_size, size, walaudit.tree_size();
    END IF;
    IF old_size = 0 OR old_size = size THEN
        RETURN proof;
    END IF;
    LOOP
        IF m = hi - lo THEN
            IF NOT complete THEN
                proof := walaudit.subtree_hash(lo, hi) || proof;
            END IF;
            RETURN proof;
        END IF;
        k := walaudit.tree_split(hi - lo);
        IF m <= k THEN
            proof := walaudit.subtree_hash(lo + k, hi) || proof;
            hi := lo + k;
        ELSE
            proof := walaudit.subtree_hash(lo, lo + k) || proof;
            m := m - k;
            lo := lo + k;
            complete := false;
        END IF;
    END LOOP;
END
$$;

-- Stores the nodes of every complete block of 256 events not stored yet,
-- and the nodes above them they complete. Appenders call it under the
-- chain's lock; setup calls it to build the tree of a store that predates
-- it. Returns the number of nodes stored.
CREATE OR REPLACE FUNCTION walaudit.tree_extend()
    RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
DECLARE
    blocks bigint;
    block bigint;
    node bytea;
    sibling bytea;
    lvl smallint;
    i bigint;
    stored bigint := 0;
BEGIN
    PERFORM 1 FROM walaudit.chain FOR UPDATE;
    blocks := walaudit.tree_size() / 256;
    SELECT coalesce(max(m.idx) + 1, 0) INTO block FROM walaudit.merkle_nodes m WHERE m.level = 8;
    WHILE block < blocks LOOP
        node := walaudit.tree_fold(ARRAY(SELECT sha256('\x00'::bytea || l.hash) FROM walaudit.event_log l
                                         WHERE l.seq > block * 256 AND l.seq <= (block + 1) * 256 ORDER BY l.seq));
        INSERT INTO walaudit.merkle_nodes VALUES (8, block, node);
        stored := stored + 1;
        lvl := 8;
        i := block;
        WHILE i % 2 = 1 LOOP
            SELECT m.hash INTO STRICT sibling FROM walaudit.merkle_nodes m WHERE m.level = lvl AND m.idx = i - 1;
            node := sha256('\x01'::bytea || sibling || node);
            lvl := lvl + 1;
            i := i / 2;
            INSERT INTO walaudit.merkle_nodes VALUES (lvl, i, node);
            stored := stored + 1;
        END LOOP;
        block := block + 1;
    END LOOP;
    RETURN stored;
END
$$;

-- A store older than the tree gets it here, once (setup runs this file).
SELECT walaudit.tree_extend();
