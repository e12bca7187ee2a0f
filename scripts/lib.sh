# Shared by the scripts: where things live. Sourced, not run.
pg_bearer_prefix() { echo "${PG_BEARER_PREFIX:-$([ "$(id -u)" = 0 ] && echo /opt/pg_bearer/pg18 || echo "$HOME/.local/pg_bearer/pg18")}"; }
pg_bearer_cache() { echo "${PG_BEARER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pg_bearer}"; }
pg_bearer_pg_user() { echo "${PG_BEARER_PG_USER:-pgbearer}"; }
pg_config_is_18() { [ -x "$1" ] && "$1" --version 2>/dev/null | grep -qE '^PostgreSQL 18(\.|beta|rc)'; }
# The pg_config of a PostgreSQL 18 to use: $PG_CONFIG, our own build, or one on PATH.
find_pg_config() {
  local c
  for c in "${PG_CONFIG:-}" "$(pg_bearer_prefix)/bin/pg_config" "$(command -v pg_config 2>/dev/null)" \
           /usr/lib/postgresql/18/bin/pg_config; do
    [ -n "$c" ] && pg_config_is_18 "$c" && { echo "$c"; return 0; }
  done
  return 1
}
