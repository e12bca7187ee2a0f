//! `introspection::verify_introspection` on arbitrary response bodies, under the profile
//! chosen by the first input byte, with the injected clock `NOW`.
//!
//! Oracle: an acceptance satisfies every promise (`assert_accepted`): `active` is JSON `true`,
//! `token_type` names an access token, Keycloak's `typ` is no refresh/ID/logout type, `iss`
//! (when present) is the configured issuer, the time claims (when present) hold with the
//! skew and the lifetime cap, the audience names a configured one, `sub` (when present) is a
//! non-empty string, fixed-value claims and client allow-list hold, scopes are granted, the
//! identity is clean and is the identity claim, the role is granted in delegate mode, and the
//! reported `exp` is the floored `exp`. A rejection names an identity only once issuer,
//! validity and audience hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pg_bearer_core::introspection::verify_introspection;
use pg_bearer_fuzz::{check_opaque_answer, Kind};

fuzz_target!(|data: &[u8]| check_opaque_answer(Kind::Introspection, data, verify_introspection));
