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
use pg_bearer_core::introspection::{verify_userinfo, OpaqueRequest};
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
    match verify_userinfo(body, &req, &profile.policy) {
        Ok(v) => assert_accepted(
            Kind::Userinfo,
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
                assert_identity_only_when_vouched(Kind::Userinfo, body, profile, id);
            }
        }
    }
});
