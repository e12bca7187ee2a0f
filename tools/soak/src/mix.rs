//! What the soak logs in with: the kinds of token, how often each is used, what each must
//! lead to, and how each token is made.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};

use pg_bearer_e2e::provider::keys::b64url;
use pg_bearer_e2e::provider::{Alg, MockProvider};
use pg_bearer_e2e::tokens::{now, tamper_signature, Minter, PublicKeyForm};

/// The audience the soak's server accepts.
pub const AUDIENCE: &str = "postgres-db";
/// The scope the HBA line requires.
pub const SCOPE: &str = "openid postgres";
/// The login roles (also the tokens' subjects).
pub const ROLES: [&str; 2] = ["alice", "bob"];
/// Active opaque tokens reused throughout the run (kept in the result cache by their use).
pub const CACHED_POOL: usize = 32;
/// Revoked opaque tokens reused throughout the run.
pub const REVOKED_POOL: usize = 8;

/// One kind of login token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A valid JWT signed with RS256.
    JwtRs256,
    /// A valid JWT signed with PS256.
    JwtPs256,
    /// A valid JWT signed with ES256.
    JwtEs256,
    /// A valid JWT signed with ES384.
    JwtEs384,
    /// A valid JWT signed with EdDSA (Ed25519).
    JwtEdDsa,
    /// Expired ten minutes ago (beyond the clock skew).
    Expired,
    /// For another audience.
    WrongAudience,
    /// Claims another issuer (signed with the real key).
    WrongIssuer,
    /// One bit of the signature flipped.
    BadSignature,
    /// `alg: none`, empty signature.
    AlgNone,
    /// HS256 keyed with the RS256 public key (CVE-2015-9235).
    KeyConfusion,
    /// Signed by a key the provider never published (forces a key refetch, rate-limited).
    UnknownKid,
    /// Lacks the scope the HBA line requires.
    MissingScope,
    /// Valid for `bob`, presented by a login as `alice` (and the other way round).
    WrongRole,
    /// Active opaque token from a small pool: usually in the result cache.
    OpaqueCached,
    /// Active opaque token used for the first time: always introspected.
    OpaqueFirstUse,
    /// Opaque token the provider reports inactive (revoked), from a small pool.
    OpaqueRevoked,
    /// Opaque token the provider has never issued (inactive).
    OpaqueUnknown,
}

/// What a kind of token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Must be accepted, provider up or not (keys are cached and within `jwks_grace`).
    ValidJwt,
    /// Must always be refused.
    InvalidJwt,
    /// Must be accepted while the provider answers; may be refused (fail closed) while a
    /// provider fault lasts, unless the answer is still in the result cache.
    ValidOpaque,
    /// Must always be refused.
    InvalidOpaque,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 4] = [
        Class::ValidJwt,
        Class::InvalidJwt,
        Class::ValidOpaque,
        Class::InvalidOpaque,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Class::ValidJwt => "valid JWT",
            Class::InvalidJwt => "invalid JWT",
            Class::ValidOpaque => "valid opaque",
            Class::InvalidOpaque => "invalid opaque",
        }
    }
}

/// Each kind with its weight out of 100.
pub const MIX: [(Kind, u32); 18] = [
    (Kind::JwtRs256, 9),
    (Kind::JwtPs256, 6),
    (Kind::JwtEs256, 9),
    (Kind::JwtEs384, 6),
    (Kind::JwtEdDsa, 8),
    (Kind::Expired, 3),
    (Kind::WrongAudience, 3),
    (Kind::WrongIssuer, 3),
    (Kind::BadSignature, 3),
    (Kind::AlgNone, 3),
    (Kind::KeyConfusion, 3),
    (Kind::UnknownKid, 3),
    (Kind::MissingScope, 3),
    (Kind::WrongRole, 3),
    (Kind::OpaqueCached, 14),
    (Kind::OpaqueFirstUse, 6),
    (Kind::OpaqueRevoked, 5),
    (Kind::OpaqueUnknown, 10),
];

const _: () = {
    let mut sum = 0;
    let mut i = 0;
    while i < MIX.len() {
        sum += MIX[i].1;
        i += 1;
    }
    assert!(sum == 100, "the mix's weights add up to 100");
};

impl Kind {
    /// The kind for login number `slot`: a fixed pseudo-random sequence following [`MIX`].
    pub fn for_slot(slot: u64) -> Kind {
        let mut pick = (splitmix64(slot) % 100) as u32;
        for (kind, weight) in MIX {
            if pick < weight {
                return kind;
            }
            pick -= weight;
        }
        unreachable!("the weights add up to 100")
    }

    /// What the token is.
    pub fn class(self) -> Class {
        match self {
            Kind::JwtRs256 | Kind::JwtPs256 | Kind::JwtEs256 | Kind::JwtEs384 | Kind::JwtEdDsa => {
                Class::ValidJwt
            }
            Kind::Expired
            | Kind::WrongAudience
            | Kind::WrongIssuer
            | Kind::BadSignature
            | Kind::AlgNone
            | Kind::KeyConfusion
            | Kind::UnknownKid
            | Kind::MissingScope
            | Kind::WrongRole => Class::InvalidJwt,
            Kind::OpaqueCached | Kind::OpaqueFirstUse => Class::ValidOpaque,
            Kind::OpaqueRevoked | Kind::OpaqueUnknown => Class::InvalidOpaque,
        }
    }

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::JwtRs256 => "jwt RS256",
            Kind::JwtPs256 => "jwt PS256",
            Kind::JwtEs256 => "jwt ES256",
            Kind::JwtEs384 => "jwt ES384",
            Kind::JwtEdDsa => "jwt EdDSA",
            Kind::Expired => "expired",
            Kind::WrongAudience => "wrong audience",
            Kind::WrongIssuer => "wrong issuer",
            Kind::BadSignature => "bad signature",
            Kind::AlgNone => "alg none",
            Kind::KeyConfusion => "HS256 key confusion",
            Kind::UnknownKid => "unknown kid",
            Kind::MissingScope => "missing scope",
            Kind::WrongRole => "wrong role",
            Kind::OpaqueCached => "opaque, pooled",
            Kind::OpaqueFirstUse => "opaque, first use",
            Kind::OpaqueRevoked => "opaque, revoked",
            Kind::OpaqueUnknown => "opaque, unknown",
        }
    }
}

/// SplitMix64: a well-mixed 64-bit hash of a counter.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One login to make.
pub struct Attempt {
    /// The role to log in as.
    pub role: &'static str,
    /// The bearer token (a secret: never printed).
    pub token: String,
    /// The `system_user` an accepted login must have.
    pub system_user: String,
}

/// Makes the tokens, and registers the opaque ones with the provider's introspection endpoint.
pub struct Tokens {
    minter: Minter,
    issuer: String,
    cached: Vec<String>,
    revoked: Vec<String>,
    /// `exp` of the active opaque tokens.
    opaque_exp: u64,
}

/// A fresh random opaque token: 32 random bytes, base64url (43 characters).
pub fn opaque_token() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system RNG works");
    b64url(&bytes)
}

impl Tokens {
    /// Token making for `idp`, whose active opaque tokens expire `lifetime_secs` from now.
    /// Registers the pooled opaque tokens with `idp`.
    pub fn new(idp: &MockProvider, lifetime_secs: u64) -> Tokens {
        let mut tokens = Tokens {
            minter: idp.minter(),
            issuer: idp.issuer().to_owned(),
            cached: Vec::new(),
            revoked: Vec::new(),
            opaque_exp: now() + lifetime_secs,
        };
        for i in 0..CACHED_POOL {
            let token = opaque_token();
            idp.set_introspection_answer(&token, Some(tokens.active_answer(ROLES[i % 2])));
            tokens.cached.push(token);
        }
        for _ in 0..REVOKED_POOL {
            let token = opaque_token();
            idp.set_introspection_answer(&token, Some(json!({"active": false})));
            tokens.revoked.push(token);
        }
        tokens
    }

    fn active_answer(&self, sub: &str) -> Value {
        json!({
            "active": true,
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": sub,
            "client_id": "pg-bearer-soak",
            "scope": SCOPE,
            "token_type": "Bearer",
            "iat": now(),
            "exp": self.opaque_exp,
        })
    }

    fn claims(&self, sub: &str) -> Value {
        self.minter.claims(AUDIENCE, sub, SCOPE)
    }

    fn jwt(&self, alg: Alg, claims: &Value) -> String {
        self.minter.mint(alg, claims, &json!({}))
    }

    /// The login for slot `slot` of kind `kind`.
    pub fn attempt(&self, idp: &MockProvider, kind: Kind, slot: u64) -> Attempt {
        let role = ROLES[(slot % 2) as usize];
        let other = ROLES[(slot % 2 + 1) as usize % 2];
        let claims = self.claims(role);
        let with = |name: &str, value: Value| {
            let mut c = claims.clone();
            c[name] = value;
            c
        };
        let token = match kind {
            Kind::JwtRs256 => self.jwt(Alg::Rs256, &claims),
            Kind::JwtPs256 => self.jwt(Alg::Ps256, &claims),
            Kind::JwtEs256 => self.jwt(Alg::Es256, &claims),
            Kind::JwtEs384 => self.jwt(Alg::Es384, &claims),
            Kind::JwtEdDsa => self.jwt(Alg::EdDsa, &claims),
            Kind::Expired => {
                let t = now();
                let mut c = with("exp", json!(t - 600));
                c["iat"] = json!(t - 900);
                self.jwt(Alg::Es256, &c)
            }
            Kind::WrongAudience => self.jwt(Alg::Rs256, &with("aud", json!("another-db"))),
            Kind::WrongIssuer => self.jwt(
                Alg::Es256,
                &with("iss", json!(format!("{}/other", self.issuer))),
            ),
            Kind::BadSignature => tamper_signature(&self.jwt(Alg::Rs256, &claims)),
            Kind::AlgNone => self.minter.alg_none(&claims),
            Kind::KeyConfusion => self
                .minter
                .hs256_with_public_key(&claims, PublicKeyForm::SpkiPem),
            // EC keys take microseconds to generate; RSA ones a tenth of a second.
            Kind::UnknownKid => self.minter.unknown_kid(Alg::Es256, &claims),
            Kind::MissingScope => self.jwt(Alg::EdDsa, &with("scope", json!("openid"))),
            Kind::WrongRole => self.jwt(Alg::Es256, &self.claims(other)),
            Kind::OpaqueCached => {
                // The pool token's subject is fixed; log in as that role.
                let i = (splitmix64(slot ^ 0x5EED) as usize) % self.cached.len();
                let role = ROLES[i % 2];
                return Attempt {
                    role,
                    token: self.cached[i].clone(),
                    system_user: format!("oauth:{role}"),
                };
            }
            Kind::OpaqueFirstUse => {
                let token = opaque_token();
                idp.set_introspection_answer(&token, Some(self.active_answer(role)));
                token
            }
            Kind::OpaqueRevoked => {
                self.revoked[(splitmix64(slot ^ 0xDEAD) as usize) % self.revoked.len()].clone()
            }
            Kind::OpaqueUnknown => opaque_token(),
        };
        Attempt {
            role,
            token,
            system_user: format!("oauth:{role}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_mix_weights() {
        let n = 100_000u64;
        let mut counts = std::collections::HashMap::new();
        for slot in 0..n {
            *counts.entry(Kind::for_slot(slot)).or_insert(0u64) += 1;
        }
        for (kind, weight) in MIX {
            let share = counts[&kind] as f64 / n as f64 * 100.0;
            assert!(
                (share - f64::from(weight)).abs() < 0.5,
                "{kind:?}: {share:.2}% for weight {weight}"
            );
        }
    }

    #[test]
    fn opaque_tokens_are_43_characters_of_base64url_and_differ() {
        let (a, b) = (opaque_token(), opaque_token());
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
    }
}
