-- Large values (raw messages, long bodies) are compressed with lz4, several
-- times faster than PostgreSQL's default pglz on the intake path. A server
-- built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE messages ALTER COLUMN raw SET COMPRESSION lz4;
    ALTER TABLE entries ALTER COLUMN body SET COMPRESSION lz4;
    ALTER TABLE quarantine ALTER COLUMN raw SET COMPRESSION lz4;
    ALTER TABLE outbox ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available: keeping pglz';
END $$;
