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
use pg_bearer_core::introspection::{verify_introspection, OpaqueRequest};
use pg_bearer_fuzz::{
    assert_accepted, assert_identity_only_when_vouched, assert_rejection_is_safe, select_profile,
    Accepted, Kind, NOW,
};

fuzz_target!(|data: &[u8]| {
    let Some((profile, body)) = select_profile(data) else {
        return;
    };
    let req = OpaqueRequest {
        hba_scopes: profile.hba_scopes,
        requested_role: profile.role,
        delegate_ident_mapping: profile.delegate,
        now: NOW,
    };
    match verify_introspection(body, &req, &profile.policy) {
        Ok(v) => assert_accepted(
            Kind::Introspection,
            body,
            profile,
            &Accepted {
                authn_id: &v.authn_id,
                exp: v.exp,
                client: None,
            },
        ),
        Err(r) => {
            assert_rejection_is_safe(&r);
            if let Some(id) = &r.identity {
                assert_identity_only_when_vouched(Kind::Introspection, body, profile, id);
            }
        }
    }
});
