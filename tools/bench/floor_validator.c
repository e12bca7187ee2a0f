/*
 * The floor of an OAuth login, for pg_bearer_bench: a validator module that does no work, so
 * that the benchmark can show what PostgreSQL's OAuth exchange itself costs next to `trust`
 * (one more round trip, the SASL messages, loading a validator) and how far pg_bearer is above
 * that floor.
 *
 * It authorizes exactly one fixed token for exactly one role (those the benchmark uses), so a
 * copy installed by mistake opens nothing else. scripts/bench.sh builds it and installs it
 * into the benchmark's own PostgreSQL (the one built without assertions) only.
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/oauth.h"

PG_MODULE_MAGIC;

static bool
floor_validate(const ValidatorModuleState *state, const char *token, const char *role,
			   ValidatorModuleResult *result)
{
	result->authorized = strcmp(token, "pg-bearer-bench-floor-token") == 0 &&
		strcmp(role, "bench_floor") == 0;
	result->authn_id = result->authorized ? pstrdup(role) : NULL;
	return true;
}

static const OAuthValidatorCallbacks callbacks = {
	.magic = PG_OAUTH_VALIDATOR_MAGIC,
	.validate_cb = floor_validate,
};

const OAuthValidatorCallbacks *
_PG_oauth_validator_module_init(void)
{
	return &callbacks;
}
