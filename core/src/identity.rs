//! The authenticated identity (`authn_id`) and, for `delegate_ident_mapping=1`, the roles a
//! token grants.
//!
//! # Format of `authn_id`
//!
//! The value of the configured identity claim ([`IssuerPolicy::identity_claim`], `sub` by
//! default), byte for byte: never case-folded, trimmed or normalised. It must be a JSON
//! string of 1..=[`MAX_AUTHN_ID_LEN`] bytes without control characters (C0, DEL, C1),
//! line/paragraph separators (U+2028, U+2029), bidirectional formatting characters (U+061C,
//! U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) or a byte-order mark (U+FEFF). These would
//! truncate the C string PostgreSQL receives (NUL), forge log lines, or make the logged
//! identity look like another one. Invalid UTF-8 and lone surrogate escapes never get this far:
//! the JSON reader refuses them.
//!
//! Without `map`, PostgreSQL compares `authn_id` with the requested role name, which has at
//! most 63 bytes (NAMEDATALEN − 1): a longer identity can then never log in, which is safe.
//! With `map=`, pg_ident.conf sees the full value.
//!
//! # E-mail identities
//!
//! `email` is mutable and, at some providers, user-controlled (the "nOAuth" attacks on
//! multi-tenant Entra ID apps). If the identity claim's name is `email`, the `email_verified`
//! member next to it must be JSON `true` ([`Reason::EmailNotVerified`] otherwise). `sub` (the
//! default) is the only identifier OpenID Connect guarantees stable (Core §5.7).

use crate::json::{Json, JsonObject};
use crate::policy::IssuerPolicy;
use crate::reason::{Reason, Rejection};

/// The longest `authn_id` accepted, in bytes. Long enough for any e-mail address
/// (RFC 5321 caps a path at 256 octets) and any provider's subject identifier.
pub const MAX_AUTHN_ID_LEN: usize = 256;

/// Whether `c` may not appear in an identity (see the module documentation).
fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// Whether `id` is acceptable as an `authn_id` (length and characters).
pub fn is_valid_identity(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_AUTHN_ID_LEN && !id.chars().any(is_forbidden_char)
}

/// Reads the authenticated identity from verified claims.
pub fn authn_id(claims: &JsonObject, policy: &IssuerPolicy) -> Result<String, Rejection> {
    let path = &policy.identity_claim;
    let id = match path.lookup(claims) {
        None => return Err(Rejection::for_claim(Reason::MissingClaim, "identity")),
        Some(Json::String(s)) => s,
        Some(_) => return Err(Rejection::for_claim(Reason::MalformedClaim, "identity")),
    };
    if !is_valid_identity(id) {
        return Err(Rejection::for_claim(Reason::BadIdentity, "identity"));
    }
    if path.last_segment() == "email"
        && path.sibling("email_verified").lookup(claims) != Some(&Json::Bool(true))
    {
        return Err(Rejection::for_claim(
            Reason::EmailNotVerified,
            "email_verified",
        ));
    }
    Ok(id.clone())
}

/// For `delegate_ident_mapping=1`: checks that the token grants `requested_role`.
///
/// The role claim ([`IssuerPolicy::role_claim`]) may be a string (one role), an array of
/// strings (Keycloak `/realm_access/roles`, Entra ID `roles`), or an object whose member names
/// are the roles (Zitadel `urn:zitadel:iam:org:project:roles`). The role is granted iff
/// `requested_role` equals one of them exactly (case-sensitive). An absent claim grants
/// nothing; a claim of another shape (or an array with a non-string) is
/// [`Reason::MalformedClaim`]. Without a configured role claim nothing is granted
/// ([`Reason::NotConfigured`]).
pub fn check_role(
    claims: &JsonObject,
    policy: &IssuerPolicy,
    requested_role: &str,
) -> Result<(), Rejection> {
    let Some(path) = &policy.role_claim else {
        return Err(Rejection::for_claim(Reason::NotConfigured, "role"));
    };
    let not_granted = || Rejection::for_claim(Reason::RoleNotGranted, "role");
    let malformed = || Rejection::for_claim(Reason::MalformedClaim, "role");
    let granted = match path.lookup(claims) {
        None => false,
        Some(Json::String(role)) => role == requested_role,
        Some(Json::Array(roles)) => {
            let mut found = false;
            for role in roles {
                found |= role.as_str().ok_or_else(malformed)? == requested_role;
            }
            found
        }
        Some(Json::Object(roles)) => roles.contains_key(requested_role),
        Some(_) => return Err(malformed()),
    };
    if granted && !requested_role.is_empty() {
        Ok(())
    } else {
        Err(not_granted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_with_forbidden_characters_are_invalid() {
        for id in [
            "",
            "postgres\0@evil",
            "alice\n",
            "alice\r\nLOG: x",
            "a\tb",
            "a\u{7f}",
            "a\u{85}",
            "a\u{9b}",
            "a\u{2028}",
            "admin\u{202E}gpj",
            "a\u{2066}b",
            "\u{FEFF}alice",
            &"a".repeat(MAX_AUTHN_ID_LEN + 1),
        ] {
            assert!(!is_valid_identity(id), "{id:?}");
        }
        for id in [
            "alice",
            "Alice@Example.COM",
            "Ünïcødé 名前",
            "a b",
            &"a".repeat(MAX_AUTHN_ID_LEN),
        ] {
            assert!(is_valid_identity(id), "{id:?}");
        }
    }
}
