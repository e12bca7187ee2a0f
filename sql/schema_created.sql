RESET allow_system_table_mods;
COMMENT ON SCHEMA pg_bearer IS 'pg_bearer: the session''s verified token claims, and the validator''s caches and counters';
