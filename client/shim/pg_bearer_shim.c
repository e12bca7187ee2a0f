/*
 * pg_bearer_shim: preloaded by `pg_bearer_client exec` into the command it runs (psql, or any
 * program using libpq 18). In a process that has libpq 18 it installs a PQsetAuthDataHook
 * that answers the server's request for an OAuth bearer token with the token
 * pg_bearer_client obtained; in any other process (a shell or Perl wrapper on the way to psql)
 * it does nothing and leaves its environment for the next exec.
 *
 * Its inputs, all set by pg_bearer_client and removed from the environment once consumed (so
 * psql's own children, such as the pager or \! commands, see neither the token nor the shim):
 *   PG_BEARER_SHIM_FD          a pipe holding the token (read once, at load)
 *   PG_BEARER_SHIM_TOKEN_FILE  a file read at every login instead (rotated tokens)
 *   PG_BEARER_SHIM_ISSUER      the issuer the token is for: a server whose discovery URI
 *                              names another issuer gets no token
 *   PG_BEARER_SHIM_PRELOAD     LD_PRELOAD as it was before pg_bearer_client added the shim
 *
 * No libpq header is needed: the few libpq 18 types used are declared below (libpq-fe.h,
 * PostgreSQL 18), and libpq's functions are found with dlsym at load time.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libpq-fe.h: PGauthData's PQAUTHDATA_OAUTH_BEARER_TOKEN */
#define SHIM_PQAUTHDATA_OAUTH_BEARER_TOKEN 1
#define SHIM_MAX_TOKEN (64 * 1024)

typedef struct shim_request
{
	const char *openid_configuration;
	const char *scope;
	int			(*async) (void *conn, struct shim_request *request, int *altsock);
	void		(*cleanup) (void *conn, struct shim_request *request);
	char	   *token;
	void	   *user;
} shim_request;

typedef int (*shim_hook) (int type, void *conn, void *data);

static shim_hook previous_hook;
static char *fd_token;
static char *token_file;
static char *issuer;

static void
shim_error(const char *what)
{
	fprintf(stderr, "pg_bearer_client: %s\n", what);
}

/* Reads at most SHIM_MAX_TOKEN bytes from fd; trailing whitespace removed. NULL if empty. */
static char *
read_token(int fd)
{
	char	   *buf = malloc(SHIM_MAX_TOKEN + 1);
	size_t		len = 0;

	if (!buf)
		return NULL;
	while (len < SHIM_MAX_TOKEN)
	{
		ssize_t		n = read(fd, buf + len, SHIM_MAX_TOKEN - len);

		if (n <= 0)
			break;
		len += (size_t) n;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
					   buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	buf[len] = '\0';
	if (len == 0)
	{
		free(buf);
		return NULL;
	}
	return buf;
}

static char *
read_token_file(const char *path)
{
	FILE	   *f = fopen(path, "re");
	char	   *token;

	if (!f)
		return NULL;
	token = read_token(fileno(f));
	fclose(f);
	return token;
}

/*
 * Whether the server's discovery URI is one of the two the issuer has (OIDC:
 * issuer + "/.well-known/openid-configuration"; RFC 8414: the well-known component inserted
 * after the authority), exactly as libpq and pg_bearer derive them.
 */
static int
discovery_names_issuer(const char *uri)
{
	static const char oidc[] = "/.well-known/openid-configuration";
	static const char rfc8414[] = "/.well-known/oauth-authorization-server";
	size_t		ilen = strlen(issuer);
	const char *scheme_end;
	size_t		authority_len;

	if (!uri)
		return 0;
	while (ilen > 0 && issuer[ilen - 1] == '/')
		ilen--;
	if (strncmp(uri, issuer, ilen) == 0 && strcmp(uri + ilen, oidc) == 0)
		return 1;
	scheme_end = strstr(issuer, "://");
	if (!scheme_end)
		return 0;
	authority_len = (size_t) (scheme_end + 3 - issuer) + strcspn(scheme_end + 3, "/");
	if (authority_len > ilen)
		authority_len = ilen;
	return strncmp(uri, issuer, authority_len) == 0 &&
		strncmp(uri + authority_len, rfc8414, sizeof(rfc8414) - 1) == 0 &&
		strlen(uri + authority_len + sizeof(rfc8414) - 1) == ilen - authority_len &&
		strncmp(uri + authority_len + sizeof(rfc8414) - 1, issuer + authority_len,
				ilen - authority_len) == 0;
}

static void
cleanup(void *conn, shim_request *request)
{
	(void) conn;
	if (request->token)
	{
		explicit_bzero(request->token, strlen(request->token));
		free(request->token);
		request->token = NULL;
	}
}

static int
hook(int type, void *conn, void *data)
{
	shim_request *request = data;
	char	   *token;

	if (type != SHIM_PQAUTHDATA_OAUTH_BEARER_TOKEN)
		return previous_hook ? previous_hook(type, conn, data) : 0;
	if (issuer && !discovery_names_issuer(request->openid_configuration))
	{
		shim_error("the server asks for a token of another issuer; none sent");
		return -1;
	}
	token = token_file ? read_token_file(token_file) : (fd_token ? strdup(fd_token) : NULL);
	if (!token)
	{
		shim_error(token_file ? "the token file is missing, unreadable or empty"
				   : "no token to send");
		return -1;
	}
	request->token = token;
	request->cleanup = cleanup;
	return 1;
}

static char *
take_env(const char *name)
{
	const char *value = getenv(name);
	char	   *copy = value ? strdup(value) : NULL;

	unsetenv(name);
	return copy;
}

__attribute__((constructor))
static void
shim_load(void)
{
	void		(*set_hook) (shim_hook);
	shim_hook	(*get_hook) (void);
	char	   *fd_text;
	char	   *preload;

	set_hook = (void (*)(shim_hook)) dlsym(RTLD_DEFAULT, "PQsetAuthDataHook");
	get_hook = (shim_hook (*)(void)) dlsym(RTLD_DEFAULT, "PQgetAuthDataHook");
	if (!set_hook || !get_hook)
		return;					/* no libpq 18 here: leave everything for the next exec */

	fd_text = take_env("PG_BEARER_SHIM_FD");
	token_file = take_env("PG_BEARER_SHIM_TOKEN_FILE");
	issuer = take_env("PG_BEARER_SHIM_ISSUER");
	if (fd_text)
	{
		int			fd = atoi(fd_text);

		fd_token = read_token(fd);
		close(fd);
		free(fd_text);
	}
	preload = take_env("PG_BEARER_SHIM_PRELOAD");
	if (preload && preload[0])
		setenv("LD_PRELOAD", preload, 1);
	else
		unsetenv("LD_PRELOAD");
	free(preload);
	if (!fd_token && !token_file)
		return;
	previous_hook = get_hook();
	set_hook(hook);
}
