-- walaudit, both databases: the roles walaudit grants to.
--
-- walaudit_reader: reports; walaudit_admin: policies; walaudit_writer: the
-- worker (insert only). Applied to the source and to the audit store (they
-- may be different servers).
-- Roles are cluster-wide: another database's setup may create them at the
-- same moment, hence the exception handlers.
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['walaudit_admin', 'walaudit_reader', 'walaudit_writer'] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', name);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END LOOP;
END
$$;
