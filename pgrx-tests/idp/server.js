// A real OpenID provider for pg_bearer's end-to-end tests: npm `oidc-provider` (pinned in
// package-lock.json) served over HTTPS on 127.0.0.1, plus a small admin API for the tests.
//
// Usage:
//   node server.js --cert cert.pem --key key.pem [--port 0] [--issuer-path /realms/main]
//                  [--host 127.0.0.1] [--interval 1]
// Every option can also come from the environment: IDP_CERT, IDP_KEY, IDP_PORT,
// IDP_ISSUER_PATH, IDP_HOST, IDP_INTERVAL. Port 0 picks a free port. When listening, prints
// exactly one JSON line on stdout, {"issuer": "...", "port": N}; everything else goes to
// stderr. Exits when stdin closes, so a parent that dies cannot leave it behind.
//
// Accounts: alice and bob, password "secret" (accountId = sub = the user name).
// Clients (see CLIENTS below):
//   psql-rs256, psql-es256, psql-eddsa  public, device_code + refresh_token, JWT access tokens
//                                       signed RS256 / ES256 / EdDSA
//   psql-opaque                         public, device_code + refresh_token, opaque tokens
//   psql-userinfo                       public, device_code + refresh_token, opaque tokens
//                                       with NO audience (no resource server), the only
//                                       tokens the userinfo endpoint accepts
//   service                             confidential (secret SECRETS.service),
//                                       client_credentials, JWT (RS256); sub = "service"
//   service-opaque                      confidential (secret SECRETS['service-opaque']),
//                                       client_credentials, opaque
//   pg-introspect                       confidential (secret SECRETS['pg-introspect']),
//                                       client_secret_basic; for RFC 7662 introspection
// Every access token but psql-userinfo's is for the resource server "postgres-db" (its `aud`),
// with the scopes `openid postgres offline_access` at most. psql-userinfo's tokens name no
// resource server: `defaultResource` gives it none, so its scopes are the OIDC scopes asked for
// (`postgres` included: it is listed in `scopes`), and introspection shows no `aud`.
//
// Facts about oidc-provider this relies on (9.13.x):
// - Access tokens are JWTs only when a resource server is resolved: libpq sends no `resource`
//   parameter, so `defaultResource` names one (it must be an absolute URI, hence a URN; the
//   audience comes from `getResourceServerInfo`), and `useGrantedResource` must say yes when
//   the scope includes `openid`.
// - In a JWT access token `sub` is the account id, or for client_credentials the client id
//   (lib/models/formats/jwt.js: `sub: sub || clientId`); `extraTokenClaims` cannot override it.
// - JWT access tokens cannot be introspected (`unsupported_token_type`), opaque ones can.
//   Userinfo accepts only tokens without an audience, so every token issued here with
//   `aud: postgres-db` is refused by userinfo; psql-userinfo's tokens (no resource) are not.
// - The device authorization response has no `interval` unless one is added (clients then
//   wait 5 s between polls); it is set from the `device_authorization.success` event.
//
// Device approval, page by page (one cookie jar; the paths below are relative to the issuer):
//   GET  /device                                  form with a hidden `xsrf`
//   POST /device  xsrf, user_code                 confirmation form (same xsrf)
//   POST /device  xsrf, user_code, confirm=yes    303 -> /interaction/<uid>
//   GET  /interaction/<uid>                       data-prompt="login": username + password
//   POST /interaction/<uid>/login                 303 -> resume -> 303 -> /interaction/<uid2>
//   GET  /interaction/<uid2>                      data-prompt="consent"
//   POST /interaction/<uid2>/confirm              303 -> resume -> "Sign-in Success" page
// The built-in development interactions are off; the login and consent routes are ours
// (further down), with a fixed password.
//
// Admin API (outside the issuer path, loopback clients only):
//   GET  /__admin/stats            request counts per endpoint
//   GET  /__admin/issued-tokens    every token the token endpoint issued (for log scans)
//   POST /__admin/reset-stats      zeroes them
//   POST /__admin/rotate[?drop=1]  new signing keys for every algorithm; the old public keys
//                                  stay published unless drop=1. The Provider is rebuilt with
//                                  the new keys; grants, sessions and tokens live in one
//                                  adapter shared by every Provider built, so they survive.
//   GET  /__admin/keys             the kid signing for each algorithm and the published kids
//   GET  /__admin/opaque-access-tokens
//                                  every live opaque access token (an opaque token's value is
//                                  its id), so a test can check that no log holds one it never
//                                  saw itself (psql's device-flow tokens)

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

// stdout carries exactly one line, the JSON announcement; oidc-provider's notices
// (console.info) and everything else go to stderr.
globalThis.console = new console.Console({ stdout: process.stderr, stderr: process.stderr });

const { values: args } = parseArgs({
  options: {
    cert: { type: 'string', default: process.env.IDP_CERT },
    key: { type: 'string', default: process.env.IDP_KEY },
    port: { type: 'string', default: process.env.IDP_PORT ?? '0' },
    'issuer-path': { type: 'string', default: process.env.IDP_ISSUER_PATH ?? '' },
    host: { type: 'string', default: process.env.IDP_HOST ?? '127.0.0.1' },
    interval: { type: 'string', default: process.env.IDP_INTERVAL ?? '1' },
  },
});
if (!args.cert || !args.key) {
  process.stderr.write('server.js: --cert and --key (or IDP_CERT, IDP_KEY) are required\n');
  process.exit(2);
}
const ISSUER_PATH = args['issuer-path'];
if (ISSUER_PATH !== '' && (!ISSUER_PATH.startsWith('/') || ISSUER_PATH.endsWith('/'))) {
  process.stderr.write(`server.js: issuer path must be empty or like /realms/main, not ${ISSUER_PATH}\n`);
  process.exit(2);
}
const DEVICE_POLL_INTERVAL = Number.parseInt(args.interval, 10);

const AUDIENCE = 'postgres-db';
const RESOURCE = 'urn:pg_bearer:resource:postgres-db';
const RESOURCE_SCOPE = 'openid postgres offline_access';
const PASSWORD = 'secret';
const ALGS = ['RS256', 'ES256', 'EdDSA'];

const USERS = {
  alice: {
    preferred_username: 'alice', email: 'alice@example.test', email_verified: true, groups: ['dba', 'staff'],
  },
  bob: {
    preferred_username: 'bob', email: 'bob@example.test', email_verified: true, groups: ['staff'],
  },
};

const deviceClient = (client_id, format, alg) => ({
  client_id,
  token_endpoint_auth_method: 'none',
  grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
  response_types: [],
  redirect_uris: [],
  scope: 'openid postgres offline_access profile email',
  'urn:pg_bearer:format': format,
  'urn:pg_bearer:alg': alg,
});
// Client secrets: random-looking on purpose, sharing no 8 characters with any identifier, so
// that the suite's log scan can tell a leaked secret from a logged client id. The tests use the
// same values (pgrx-tests/src/oidc.rs).
const SECRETS = {
  service: 'q7Vd2LxR9pT4mWz8kC1n',
  'service-opaque': 'N3hKc6Yt1bQw5ZsEa0Gu',
  'pg-introspect': 'Xf8Rj2Mv6Dq9Lp3AyH5e',
};
const serviceClient = (client_id, format, alg) => ({
  client_id,
  client_secret: SECRETS[client_id],
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  scope: 'postgres',
  'urn:pg_bearer:format': format,
  'urn:pg_bearer:alg': alg,
});
const CLIENTS = [
  deviceClient('psql-rs256', 'jwt', 'RS256'),
  deviceClient('psql-es256', 'jwt', 'ES256'),
  deviceClient('psql-eddsa', 'jwt', 'EdDSA'),
  deviceClient('psql-opaque', 'opaque'),
  { ...deviceClient('psql-userinfo', 'opaque'), 'urn:pg_bearer:no_resource': true },
  serviceClient('service', 'jwt', 'RS256'),
  serviceClient('service-opaque', 'opaque'),
  {
    client_id: 'pg-introspect',
    client_secret: SECRETS['pg-introspect'],
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
  },
];

// ----- storage shared by every Provider instance (survives key rotation) -----

const store = new Map(); // key -> { value, expiresAt }
const grantIndex = new Map(); // grantId -> Set of keys

function storeGet(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.value;
}

function storeSet(key, value, expiresIn) {
  const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
  store.set(key, { value, expiresAt });
}

class SharedMemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    storeSet(key, payload, expiresIn);
    if (payload.grantId) {
      if (!grantIndex.has(payload.grantId)) grantIndex.set(payload.grantId, new Set());
      grantIndex.get(payload.grantId).add(key);
    }
    if (payload.userCode) storeSet(`userCode:${payload.userCode}`, id, expiresIn);
    if (this.model === 'Session' && payload.uid) storeSet(`sessionUid:${payload.uid}`, id, expiresIn);
  }

  async find(id) {
    return storeGet(this.key(id));
  }

  async findByUserCode(userCode) {
    const id = storeGet(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUid(uid) {
    const id = storeGet(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = storeGet(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of grantIndex.get(grantId) ?? []) store.delete(key);
    grantIndex.delete(grantId);
  }
}

// ----- signing keys -----

function generateKey(alg) {
  const pair = {
    RS256: () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }),
    ES256: () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    EdDSA: () => crypto.generateKeyPairSync('ed25519'),
  }[alg]();
  const jwk = pair.privateKey.export({ format: 'jwk' });
  return {
    ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}`,
  };
}

// Newest first. `signing[alg]` is the kid every new token of that algorithm is signed with.
let keys = [];
let signing = {};

function rotateKeys({ drop }) {
  const fresh = ALGS.map(generateKey);
  signing = Object.fromEntries(fresh.map((k) => [k.alg, k.kid]));
  keys = drop ? fresh : [...fresh, ...keys];
}

// ----- accounts and the interaction pages -----

function findAccount(_ctx, sub) {
  const user = USERS[sub];
  if (!user) return undefined;
  return { accountId: sub, claims: () => ({ sub, ...user }) };
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>`
    + `<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

// GET /interaction/<uid>, POST .../login, POST .../confirm. Returns false if not ours.
async function interaction(provider, req, res, rest) {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(\/login|\/confirm)?$/.exec(rest);
  if (!match) return false;
  const [, uid, action] = match;
  const base = `${ISSUER_PATH}/interaction/${uid}`;
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (details.uid !== uid) throw new Error('interaction cookie does not match the URL');

  if (!action && req.method === 'GET') {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    if (prompt.name === 'login') {
      res.end(page('Sign-in', `<form data-prompt="login" method="post" action="${base}/login">`
        + `<p>${escapeHtml(params.client_id)} asks you to sign in.</p>`
        + '<input type="text" name="username" placeholder="alice or bob" autofocus>'
        + '<input type="password" name="password" placeholder="password">'
        + '<button type="submit">Sign in</button></form>'));
    } else {
      res.end(page('Authorize', `<form data-prompt="consent" method="post" action="${base}/confirm">`
        + `<p>${escapeHtml(params.client_id)} asks for: ${escapeHtml(params.scope ?? '')}</p>`
        + '<button type="submit">Allow</button></form>'));
    }
    return true;
  }
  if (req.method !== 'POST') return false;

  const form = await readForm(req);
  if (action === '/login') {
    if (prompt.name !== 'login') throw new Error(`login posted during the ${prompt.name} prompt`);
    if (!USERS[form.username] || form.password !== PASSWORD) {
      res.statusCode = 401;
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(page('Sign-in failed', '<p>Unknown user or wrong password.</p>'));
      return true;
    }
    await provider.interactionFinished(req, res, { login: { accountId: form.username } }, {
      mergeWithLastSubmission: false,
    });
    return true;
  }

  // Consent: grant what the prompt says is missing (as the built-in pages do).
  if (prompt.name !== 'consent') throw new Error(`consent posted during the ${prompt.name} prompt`);
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  return true;
}

// ----- the Provider -----

const COOKIE_KEYS = [crypto.randomBytes(32).toString('base64url')];

function clientMeta(client) {
  return CLIENTS.find((c) => c.client_id === client?.clientId) ?? {};
}

function buildProvider(issuer) {
  const provider = new Provider(issuer, {
    adapter: SharedMemoryAdapter,
    clients: CLIENTS,
    extraClientMetadata: {
      properties: ['urn:pg_bearer:format', 'urn:pg_bearer:alg', 'urn:pg_bearer:no_resource'],
    },
    jwks: { keys },
    findAccount,
    cookies: { keys: COOKIE_KEYS },
    scopes: ['openid', 'postgres', 'offline_access', 'profile', 'email'],
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'groups'],
      email: ['email', 'email_verified'],
    },
    ttl: {
      AccessToken: 3600,
      ClientCredentials: 600,
      DeviceCode: 600,
      Grant: 3600,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: 86400,
      Session: 3600,
    },
    interactions: {
      url: (_ctx, i) => `${ISSUER_PATH}/interaction/${i.uid}`,
    },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // Confidential clients (pg-introspect) may introspect any token, public clients only
        // their own (oidc-provider's default, stated here to make it a decision).
        allowedPolicy: (_ctx, client, token) => client.clientAuthMethod !== 'none'
          || token.clientId === client.clientId,
      },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // psql-userinfo gets no resource server unless it asks for one (libpq never does):
        // its access tokens then carry no audience and the userinfo endpoint accepts them.
        defaultResource: (_ctx, client, oneOf) => (
          clientMeta(client)['urn:pg_bearer:no_resource'] ? oneOf : RESOURCE),
        useGrantedResource: (ctx) => !clientMeta(ctx.oidc.client)['urn:pg_bearer:no_resource'],
        getResourceServerInfo: (_ctx, indicator, client) => {
          if (indicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
          const meta = clientMeta(client);
          const format = meta['urn:pg_bearer:format'] ?? 'opaque';
          const info = { audience: AUDIENCE, scope: RESOURCE_SCOPE, accessTokenFormat: format };
          if (format === 'jwt') {
            const alg = meta['urn:pg_bearer:alg'];
            info.jwt = { sign: { alg, kid: signing[alg] } };
          }
          return info;
        },
      },
    },
    extraTokenClaims: (_ctx, token) => {
      // A client_credentials token's subject is its client: JWTs get that from oidc-provider
      // already, opaque ones only through this claim (introspection has no `sub` otherwise).
      if (!token.accountId) return { sub: token.clientId };
      const user = USERS[token.accountId];
      if (!user) return undefined;
      return { preferred_username: user.preferred_username, email: user.email, groups: user.groups };
    },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', `<pre>${escapeHtml(JSON.stringify(out))}</pre>`);
    },
  });
  provider.on('device_authorization.success', (_ctx, body) => {
    // eslint-disable-next-line no-param-reassign
    body.interval = DEVICE_POLL_INTERVAL;
  });
  provider.on('server_error', (_ctx, err) => {
    process.stderr.write(`idp: server_error: ${err?.stack ?? err}\n`);
  });
  return provider;
}

// ----- request counts -----

const ENDPOINTS = {
  discovery: '/.well-known/openid-configuration',
  jwks: '/jwks',
  introspection: '/token/introspection',
  userinfo: '/me',
  token: '/token',
  device_authorization: '/device/auth',
  revocation: '/token/revocation',
};
const zeroStats = () => ({ ...Object.fromEntries(Object.keys(ENDPOINTS).map((k) => [k, 0])), total: 0 });
let stats = zeroStats();

function count(rest) {
  stats.total += 1;
  for (const [name, path] of Object.entries(ENDPOINTS)) {
    if (rest === path) stats[name] += 1;
  }
}

// ----- issued tokens, for the test suite's log scan -----

// Every token the token endpoint hands out (psql's device-flow tokens included), so that the
// tests can check no server log holds any part of one. Kept in memory, loopback admin only.
const issued = [];
const MAX_ISSUED = 10000;

function recordIssuedTokens(res) {
  const chunks = [];
  const { write, end } = res;
  res.write = function captureWrite(chunk, ...rest) {
    if (chunk) chunks.push(Buffer.from(chunk));
    return write.call(this, chunk, ...rest);
  };
  res.end = function captureEnd(chunk, ...rest) {
    if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk));
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const name of ['access_token', 'refresh_token', 'id_token']) {
        if (typeof body[name] === 'string' && issued.length < MAX_ISSUED) issued.push(body[name]);
      }
    } catch {
      // Not JSON (an error page): nothing was issued.
    }
    return end.call(this, chunk, ...rest);
  };
}

// ----- the server -----

function json(res, status, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify(body));
}

function isLoopback(address) {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

async function admin(req, res, path, query, state) {
  if (!isLoopback(req.socket.remoteAddress)) return json(res, 403, { error: 'loopback only' });
  if (req.method === 'GET' && path === '/__admin/stats') return json(res, 200, stats);
  if (req.method === 'GET' && path === '/__admin/keys') {
    return json(res, 200, { signing, published: keys.map((k) => k.kid) });
  }
  if (req.method === 'GET' && path === '/__admin/opaque-access-tokens') {
    const tokens = [];
    for (const [key, { value }] of store) {
      const [model, id] = key.split(/:(.*)/s);
      // Only opaque tokens are stored (a JWT's payload is its value); an opaque one's id is
      // its value.
      if ((model === 'AccessToken' || model === 'ClientCredentials') && value) tokens.push(id);
    }
    return json(res, 200, { tokens });
  }
  if (req.method === 'GET' && path === '/__admin/issued-tokens') return json(res, 200, { tokens: issued });
  if (req.method === 'POST' && path === '/__admin/reset-stats') {
    stats = zeroStats();
    return json(res, 200, stats);
  }
  if (req.method === 'POST' && path === '/__admin/rotate') {
    rotateKeys({ drop: query.get('drop') === '1' });
    // eslint-disable-next-line no-param-reassign
    state.provider = buildProvider(state.issuer);
    state.callback = state.provider.callback();
    return json(res, 200, { signing, published: keys.map((k) => k.kid) });
  }
  return json(res, 404, { error: 'no such admin route' });
}

async function main() {
  rotateKeys({ drop: true });
  const state = { issuer: undefined, provider: undefined, callback: undefined };
  const server = https.createServer({
    cert: fs.readFileSync(args.cert),
    key: fs.readFileSync(args.key),
  }, async (req, res) => {
    try {
      const url = new URL(req.url, 'https://idp.invalid');
      if (url.pathname.startsWith('/__admin/')) {
        await admin(req, res, url.pathname, url.searchParams, state);
        return;
      }
      if (ISSUER_PATH && url.pathname !== ISSUER_PATH && !url.pathname.startsWith(`${ISSUER_PATH}/`)) {
        json(res, 404, { error: 'not_found' });
        return;
      }
      const rest = url.pathname.slice(ISSUER_PATH.length) || '/';
      count(rest);
      const { provider, callback } = state;
      if (await interaction(provider, req, res, rest)) return;
      // Mounted the way Express mounts: oidc-provider derives its mount path from
      // originalUrl minus url (lib/helpers/oidc_context.js, urlFor).
      req.originalUrl = req.url;
      req.url = rest + url.search;
      if (rest === ENDPOINTS.token) recordIssuedTokens(res);
      callback(req, res);
    } catch (err) {
      process.stderr.write(`idp: ${req.method} ${req.url}: ${err?.message ?? err}\n`);
      if (!res.headersSent) json(res, 400, { error: 'fixture_error', error_description: String(err?.message ?? err) });
      else res.end();
    }
  });
  server.listen(Number.parseInt(args.port, 10), '127.0.0.1', () => {
    const { port } = server.address();
    state.issuer = `https://${args.host}:${port}${ISSUER_PATH}`;
    state.provider = buildProvider(state.issuer);
    state.callback = state.provider.callback();
    process.stdout.write(`${JSON.stringify({ issuer: state.issuer, port })}\n`);
  });
  // The parent holds our stdin: when it goes away (exit, crash, kill), so do we.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  process.on('SIGTERM', () => process.exit(0));
}

main().catch((err) => {
  process.stderr.write(`idp: ${err?.stack ?? err}\n`);
  process.exit(1);
});
