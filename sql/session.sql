-- The session functions: every role may read its own session's claims. They raise no error
-- whatever the argument, so they are LEAKPROOF (a policy may use them ahead of other quals).
GRANT USAGE ON SCHEMA pg_bearer TO PUBLIC;
ALTER FUNCTION pg_bearer.claims() LEAKPROOF;
ALTER FUNCTION pg_bearer.claim(text) LEAKPROOF;
ALTER FUNCTION pg_bearer.scopes() LEAKPROOF;
ALTER FUNCTION pg_bearer.issuer() LEAKPROOF;
ALTER FUNCTION pg_bearer.token_expires_at() LEAKPROOF;
