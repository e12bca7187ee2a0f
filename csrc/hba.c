/*
 * The only code in pg_bearer that reads MyProcPort->hba: pgrx 0.18's bindings keep HbaLine
 * opaque, so its OAuth fields are read here, compiled against the server's own headers.
 *
 * This file also checks src/ffi.rs (the Rust mirror of libpq/oauth.h) against the real header:
 * build.rs passes the mirror's sizes and offsets as PGB_* definitions, and any difference stops
 * the build.
 */
#include "postgres.h"

#include <stddef.h>

#include "libpq/hba.h"
#include "libpq/libpq-be.h"
#include "libpq/oauth.h"
#include "miscadmin.h"

#define PGB_CHECK(expr, what) _Static_assert((expr), "src/ffi.rs does not match libpq/oauth.h: " what)

#define PGB_CHECK_FIELD(T, f, OFF, SIZE) \
	PGB_CHECK(OFF == offsetof(T, f), #T "." #f " offset"); \
	PGB_CHECK(SIZE == sizeof(((T *) 0)->f), #T "." #f " size")

PGB_CHECK(PGB_MAGIC == PG_OAUTH_VALIDATOR_MAGIC, "PG_OAUTH_VALIDATOR_MAGIC");
PGB_CHECK(PGB_STATE_SIZE == sizeof(ValidatorModuleState), "sizeof(ValidatorModuleState)");
PGB_CHECK_FIELD(ValidatorModuleState, sversion, PGB_STATE_SVERSION, PGB_STATE_SVERSION_SIZE);
PGB_CHECK_FIELD(ValidatorModuleState, private_data, PGB_STATE_PRIVATE_DATA, PGB_STATE_PRIVATE_DATA_SIZE);
PGB_CHECK(PGB_RESULT_SIZE == sizeof(ValidatorModuleResult), "sizeof(ValidatorModuleResult)");
PGB_CHECK_FIELD(ValidatorModuleResult, authorized, PGB_RESULT_AUTHORIZED, PGB_RESULT_AUTHORIZED_SIZE);
PGB_CHECK_FIELD(ValidatorModuleResult, authn_id, PGB_RESULT_AUTHN_ID, PGB_RESULT_AUTHN_ID_SIZE);
PGB_CHECK(PGB_CALLBACKS_SIZE == sizeof(OAuthValidatorCallbacks), "sizeof(OAuthValidatorCallbacks)");
PGB_CHECK_FIELD(OAuthValidatorCallbacks, magic, PGB_CALLBACKS_MAGIC, PGB_CALLBACKS_MAGIC_SIZE);
PGB_CHECK_FIELD(OAuthValidatorCallbacks, startup_cb, PGB_CALLBACKS_STARTUP, PGB_CALLBACKS_STARTUP_SIZE);
PGB_CHECK_FIELD(OAuthValidatorCallbacks, shutdown_cb, PGB_CALLBACKS_SHUTDOWN, PGB_CALLBACKS_SHUTDOWN_SIZE);
PGB_CHECK_FIELD(OAuthValidatorCallbacks, validate_cb, PGB_CALLBACKS_VALIDATE, PGB_CALLBACKS_VALIDATE_SIZE);

/* The HBA line being authenticated, or NULL outside client authentication. */
static const HbaLine *
current_hba(void)
{
	return (MyProcPort != NULL) ? MyProcPort->hba : NULL;
}

/* pg_hba `issuer=` of the current line, or NULL. The string belongs to the server. */
const char *
pg_bearer_hba_issuer(void)
{
	const HbaLine *hba = current_hba();

	return hba ? hba->oauth_issuer : NULL;
}

/* pg_hba `scope=` of the current line, or NULL. The string belongs to the server. */
const char *
pg_bearer_hba_scope(void)
{
	const HbaLine *hba = current_hba();

	return hba ? hba->oauth_scope : NULL;
}

/* pg_hba `delegate_ident_mapping=1`: 1 if set, 0 if not, -1 outside client authentication. */
int
pg_bearer_hba_delegate_ident_mapping(void)
{
	const HbaLine *hba = current_hba();

	return hba ? (hba->oauth_skip_usermap ? 1 : 0) : -1;
}
