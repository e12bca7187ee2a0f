-- The DBA surface: views of the shared key cache, the result cache and the counters, and the
-- actions on them. None of it is for PUBLIC: superusers and members of pg_monitor read the
-- views and may refresh keys; forgetting results and resetting counters stay with superusers
-- unless one grants them (GRANT EXECUTE ON FUNCTION pg_bearer.reset_stats() TO some_role).
-- A view calls its function with the privileges of the role that queries it, so each view and
-- its function carry the same grant.
CREATE VIEW pg_bearer.key_cache AS SELECT * FROM pg_bearer.key_cache_rows();
CREATE VIEW pg_bearer.result_cache AS SELECT * FROM pg_bearer.result_cache_rows();
CREATE VIEW pg_bearer.login_stats AS SELECT * FROM pg_bearer.login_stats_rows();
CREATE VIEW pg_bearer.provider_stats AS SELECT * FROM pg_bearer.provider_stats_rows();

COMMENT ON VIEW pg_bearer.key_cache IS 'pg_bearer: the keys cached for each issuer, shared by all backends';
COMMENT ON VIEW pg_bearer.result_cache IS 'pg_bearer: cached introspection and userinfo answers (a hash prefix of each token, never the token)';
COMMENT ON VIEW pg_bearer.login_stats IS 'pg_bearer: logins by issuer, outcome and reason since the server started or reset_stats()';
COMMENT ON VIEW pg_bearer.provider_stats IS 'pg_bearer: requests to providers by issuer and kind, and their failures';

REVOKE ALL ON pg_bearer.key_cache, pg_bearer.result_cache, pg_bearer.login_stats,
    pg_bearer.provider_stats FROM PUBLIC;
GRANT SELECT ON pg_bearer.key_cache, pg_bearer.result_cache, pg_bearer.login_stats,
    pg_bearer.provider_stats TO pg_monitor;

REVOKE EXECUTE ON FUNCTION pg_bearer.key_cache_rows(), pg_bearer.result_cache_rows(),
    pg_bearer.login_stats_rows(), pg_bearer.provider_stats_rows(),
    pg_bearer.refresh_keys(text), pg_bearer.forget_results(), pg_bearer.reset_stats()
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_bearer.key_cache_rows(), pg_bearer.result_cache_rows(),
    pg_bearer.login_stats_rows(), pg_bearer.provider_stats_rows(),
    pg_bearer.refresh_keys(text) TO pg_monitor;
