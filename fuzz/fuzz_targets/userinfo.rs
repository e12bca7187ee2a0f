//! `introspection::verify_userinfo` on arbitrary response bodies, under the profile chosen by
//! the first input byte.
//!
//! Oracle: an acceptance satisfies every promise (`assert_accepted`): `sub` is a non-empty
//! string, `iss` (when present) is the configured issuer, fixed-value claims and client
//! allow-list hold, scopes (when the answer lists any) are granted as words or by no audience
//! at all (userinfo proves none), the identity is clean and is the identity claim, the role is
//! granted in delegate mode, and no `exp` is reported. A rejection names an identity only
//! once `iss` holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pg_bearer_core::introspection::verify_userinfo;
use pg_bearer_fuzz::{check_opaque_answer, Kind};

fuzz_target!(|data: &[u8]| check_opaque_answer(Kind::Userinfo, data, verify_userinfo));
