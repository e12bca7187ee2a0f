//! Why a login did not succeed, as the glue carries it: a verdict on the token
//! ([`Rejection`], from core's checks), or a [`Failure`] to reach one (configuration, provider,
//! shared cache, pg_bearer itself). Both name a [`Reason`] from core, the one list of reason
//! codes; no code is written anywhere else.

use pg_bearer_core::reason::{Reason, Rejection};

/// No verdict could be reached: the reason and a token-free detail for the log line.
#[derive(Debug)]
pub struct Failure {
    pub reason: Reason,
    pub detail: String,
}

impl Failure {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Failure {
            reason,
            detail: detail.into(),
        }
    }
}

/// Why a token was not accepted.
pub enum Refusal {
    /// Core's verdict on the token (or on the provider's answer about it).
    Token(Rejection),
    /// Something else stood in the way.
    Provider(Failure),
}

impl From<Failure> for Refusal {
    fn from(e: Failure) -> Self {
        Refusal::Provider(e)
    }
}

impl From<Rejection> for Refusal {
    fn from(r: Rejection) -> Self {
        Refusal::Token(r)
    }
}
