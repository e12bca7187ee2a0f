-- PostgreSQL reserves schema names beginning with "pg_" for the system: CREATE SCHEMA refuses
-- them unless allow_system_table_mods is on, and a superuser may turn it on. It is on from
-- here until sql/schema_created.sql, which follows the CREATE SCHEMA pg_bearer that pgrx
-- generates, and the script does nothing else in between. (The control file cannot name the
-- schema: CREATE EXTENSION would create it itself, and be refused.) The schema is a member of
-- the extension, so DROP EXTENSION drops it.
SET allow_system_table_mods = on;
