/*
 * pg_bearer.session_expiry: the session ends when its token's exp passes.
 *
 * Armed once, by the session's own backend, right after it validated the token
 * (src/session.rs). Two mechanisms, so that nothing a session does keeps it alive:
 *
 * 1. At exp, a timeout (utils/timeout.h) asks the backend to stop what it does: it cancels a
 *    running statement and raises a sinval catchup interrupt. An idle backend outside a
 *    transaction block handles the catchup by running an empty transaction, whose pre-commit
 *    callback here ends the session with a FATAL that names the expiry. Every commit after exp
 *    does the same, so no work commits once the token has expired.
 * 2. At exp + 500 ms, a kernel timer (timer_create) sends the backend SIGTERM, PostgreSQL's
 *    own "terminate this backend" (what pg_terminate_backend sends). It cannot be caught by
 *    SQL (PL/pgSQL may catch a cancel, never this) and survives what disables PostgreSQL's
 *    timeouts (every ERROR does, in PostgresMain's error recovery). It ends a session idle in
 *    a transaction block, or one that swallowed the cancel. The server log then says why
 *    (before_shmem_exit below).
 *
 * Signal-handler context: the timeout handler only sets flags and the latch, as PostgreSQL's
 * own handlers do.
 */
#include "postgres.h"

#include <signal.h>
#include <time.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/sinval.h"
#include "utils/elog.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

/* The token's exp (seconds since the Unix epoch); 0 until armed. */
static int64 expiry_at = 0;
/* exp as the messages show it (UTC), written once when armed. */
static char expiry_text[64];
static TimeoutId soft_timeout;
/* Set when the FATAL naming the expiry has been raised (the exit log line is then redundant). */
static bool fatal_raised = false;

static bool
expired(void)
{
	return expiry_at != 0 && (int64) time(NULL) >= expiry_at;
}

/* Asks a running statement to stop and an idle backend to run the pre-commit check. */
static void
request_end(void)
{
	QueryCancelPending = true;
	catchupInterruptPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/* The timeout's handler, at exp (signal context). */
static void
soft_expiry_handler(void)
{
	request_end();
}

/* (Re)arms the timeout at exp, unless it is pending. PostgreSQL disables every timeout in its
 * error recovery; the transaction callbacks call this again. */
static void
arm_soft(void)
{
	if (!get_timeout_active(soft_timeout))
		enable_timeout_at(soft_timeout, time_t_to_timestamptz((pg_time_t) expiry_at));
}

static void
expiry_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (expired())
			{
				fatal_raised = true;
				ereport(FATAL,
						(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
						 errmsg("pg_bearer: the token this session logged in with expired at %s",
								expiry_text),
						 errdetail("pg_bearer.session_expiry is on: a session ends when its token expires, and nothing commits after that."),
						 errhint("Connect again with a fresh token.")));
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			/* Called after PostgresMain's error recovery disabled the timeout. */
			if (expired())
				request_end();
			else
				arm_soft();
			break;
	}
}

static void
expiry_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	/* A cancel caught by an exception block: ask again. */
	if (event == SUBXACT_EVENT_ABORT_SUB && expired())
		request_end();
}

static void
expiry_exit_log(int code, Datum arg)
{
	if (expired() && !fatal_raised)
		ereport(LOG,
				(errmsg("pg_bearer: session ended: the token it logged in with expired at %s (pg_bearer.session_expiry)",
						expiry_text)));
}

/*
 * Arms the session's end at exp (seconds since the Unix epoch; in the future) and names it
 * `text` in messages. Returns false, arming nothing lasting, if the kernel timer cannot be
 * created: the caller then refuses the login rather than let a session outlive its token.
 * Called at most once per backend.
 */
bool
pg_bearer_expiry_arm(int64 exp, const char *text)
{
	struct sigevent event;
	struct itimerspec when;
	timer_t timer;

	if (expiry_at != 0 || exp <= 0)
		return false;

	memset(&event, 0, sizeof(event));
	event.sigev_notify = SIGEV_SIGNAL;
	event.sigev_signo = SIGTERM;
	if (timer_create(CLOCK_REALTIME, &event, &timer) != 0)
		return false;
	memset(&when, 0, sizeof(when));
	when.it_value.tv_sec = (time_t) exp;
	when.it_value.tv_nsec = 500 * 1000 * 1000;
	if (timer_settime(timer, TIMER_ABSTIME, &when, NULL) != 0)
	{
		timer_delete(timer);
		return false;
	}

	strlcpy(expiry_text, text, sizeof(expiry_text));
	expiry_at = exp;

	/*
	 * These raise ERROR only when a fixed table is full or memory is exhausted. The validate
	 * path raises no ERROR: such a failure refuses the login instead (the kernel timer then
	 * ends a backend that is exiting anyway).
	 */
	{
		MemoryContext context = CurrentMemoryContext;
		volatile bool armed = true;

		PG_TRY();
		{
			soft_timeout = RegisterTimeout(USER_TIMEOUT, soft_expiry_handler);
			arm_soft();
			RegisterXactCallback(expiry_xact_callback, NULL);
			RegisterSubXactCallback(expiry_subxact_callback, NULL);
			before_shmem_exit(expiry_exit_log, (Datum) 0);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(context);
			FlushErrorState();
			armed = false;
		}
		PG_END_TRY();
		return armed;
	}
}
