//! Wycheproof JOSE vectors (security battery §4 C items 26 and 27): every test case of
//! `json_web_signature_test.json` and `json_web_key_test.json` (C2SP/wycheproof, Apache-2.0,
//! vendored unmodified under `tests/data/wycheproof/`, see the README there) is run through
//! [`verify_jwt`], and our verdict is compared with Wycheproof's `result`.
//!
//! # The JWS-verification verdict
//!
//! The vectors' payloads are not JWT claims sets (`"foo"`, the RFC 7520 text, zero bytes), so
//! no vector can pass [`verify_jwt`] as a whole. Its checks run in a fixed order (envelope,
//! header, algorithm allow-list, `typ`, key selection, signature, then claims), so the
//! rejection reason tells how far a token got: a reason from the claims stage
//! (`malformed_payload` here) means the token *passed* the envelope, header, key and
//! signature checks. That is the "accepted" verdict compared with Wycheproof's `valid`. This
//! uses the production code path unchanged; no verification is re-implemented here. The
//! oracle is checked, too: every token judged accepted is verified again with one signature
//! bit flipped and must then fail with `bad_signature`.
//!
//! # Where we differ from Wycheproof
//!
//! Our policy is stricter than Wycheproof's (a generic JOSE library) by design. Every
//! disagreement must be explained by one of the [`STRICTER`] rules (Wycheproof `valid`, we
//! reject, with the named reason) or, for the opposite direction, by [`KNOWN_ACCEPTED`]
//! (Wycheproof `invalid`, we accept). Any other disagreement fails the test, and so does a
//! rule or entry that no longer matches anything (so the lists stay exact).
//!
//! Two vector sets would pass vacuously end to end, so they are also checked one layer
//! down: the key file's bad keys with [`KeySet::select`] (two of those tokens have an empty
//! payload, refused before any key is looked at), and the HS256 `base64` group re-signed
//! with an ES256 key (HS256 is refused before the payload and signature are decoded).

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{b64, policy, request, sign, EC256};
use jsonwebtoken::Algorithm;
use pg_bearer_core::envelope;
use pg_bearer_core::jwks::{JwksLimits, KeySet};
use pg_bearer_core::policy::verify_jwt;
use pg_bearer_core::reason::Reason;
use serde_json::{json, Value};

const SIGNATURE_FILE: &str = "json_web_signature_test.json";
const KEY_FILE: &str = "json_web_key_test.json";

fn vectors(file: &str) -> Value {
    let text = match file {
        SIGNATURE_FILE => include_str!("data/wycheproof/json_web_signature_test.json"),
        KEY_FILE => include_str!("data/wycheproof/json_web_key_test.json"),
        _ => unreachable!(),
    };
    serde_json::from_str(text).expect("vendored Wycheproof file is JSON")
}

/// How far a token got in [`verify_jwt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Passed envelope, header, key and signature checks; `Some` is the claims-stage reason
    /// it was then refused with (always, since the payloads are not claims sets).
    Accepted(Option<Reason>),
    /// Refused at or before the signature check.
    Rejected(Reason),
    /// The key set itself was refused by [`KeySet::from_jwks_json`].
    KeySetRefused,
}

/// The reasons [`verify_jwt`] returns at or before the signature check. Anything else comes
/// from the claims stage, i.e. after the signature verified. (`duplicate_member` can come
/// from either; it is told apart with [`envelope::parse_header`].)
const BEFORE_SIGNATURE: &[Reason] = &[
    Reason::NotConfigured,
    Reason::TokenTooLarge,
    Reason::MalformedEnvelope,
    Reason::MalformedHeader,
    Reason::AlgNotAllowed,
    Reason::ForbiddenHeader,
    Reason::WrongTyp,
    Reason::UnknownKid,
    Reason::AmbiguousKey,
    Reason::NoMatchingKey,
    Reason::KeyAlgMismatch,
    Reason::BadSignature,
];

fn judge(token: &str, keys: &KeySet) -> Verdict {
    match verify_jwt(&request(token), keys, &policy()) {
        Ok(_) => Verdict::Accepted(None),
        Err(r) if r.reason == Reason::DuplicateMember => {
            if envelope::parse_header(token).is_err() {
                Verdict::Rejected(r.reason)
            } else {
                Verdict::Accepted(Some(r.reason))
            }
        }
        Err(r) if BEFORE_SIGNATURE.contains(&r.reason) => Verdict::Rejected(r.reason),
        Err(r) => Verdict::Accepted(Some(r.reason)),
    }
}

/// One Wycheproof test case, with the key set of its group.
struct Case {
    file: &'static str,
    tc_id: u64,
    comment: String,
    /// `valid`, `invalid` or `acceptable`.
    result: String,
    /// The compact JWS (a JSON-serialized JWS is passed as its JSON text).
    token: String,
    /// The group's verification key(s): `public` if the group has it, else `private` (the
    /// symmetric groups), always as a JWKS document.
    jwks: Value,
    /// Tokens of the same group that Wycheproof calls `valid`.
    valid_in_group: Vec<String>,
}

impl Case {
    fn header(&self) -> Option<Value> {
        let segment = self.token.split('.').next()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).ok()?).ok()
    }

    fn header_alg(&self) -> Option<String> {
        Some(self.header()?.get("alg")?.as_str()?.to_owned())
    }

    /// The `alg` of the group's JWK whose `kid` the header names (or the only JWK).
    fn key_alg(&self) -> Option<String> {
        let kid = self.header()?.get("kid").cloned();
        let keys = self.jwks.get("keys")?.as_array()?;
        let key = match kid {
            Some(kid) => keys.iter().find(|k| k.get("kid") == Some(&kid))?,
            None if keys.len() == 1 => &keys[0],
            None => return None,
        };
        Some(key.get("alg")?.as_str()?.to_owned())
    }

    fn segments(&self) -> Vec<&str> {
        self.token.split('.').collect()
    }
}

fn cases(file: &'static str) -> Vec<Case> {
    let doc = vectors(file);
    let mut out = Vec::new();
    for group in doc["testGroups"].as_array().unwrap() {
        let key = group.get("public").unwrap_or(&group["private"]);
        let jwks = if key.get("keys").is_some() {
            key.clone()
        } else {
            json!({ "keys": [key] })
        };
        let token_of = |t: &Value| match &t["jws"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let tests = group["tests"].as_array().unwrap();
        let valid_in_group: Vec<String> = tests
            .iter()
            .filter(|t| t["result"] == "valid")
            .map(token_of)
            .collect();
        for t in tests {
            out.push(Case {
                file,
                tc_id: t["tcId"].as_u64().unwrap(),
                comment: t["comment"].as_str().unwrap().to_owned(),
                result: t["result"].as_str().unwrap().to_owned(),
                token: token_of(t),
                jwks: jwks.clone(),
                valid_in_group: valid_in_group.clone(),
            });
        }
    }
    let declared = doc["numberOfTests"].as_u64().unwrap();
    assert_eq!(out.len() as u64, declared, "{file}: numberOfTests");
    out
}

/// A documented reason why we refuse a case Wycheproof calls `valid`: when `applies` holds,
/// the case must be rejected with exactly `reason`.
struct Rule {
    name: &'static str,
    reason: Reason,
    applies: fn(&Case) -> bool,
}

/// Every way we are stricter than Wycheproof.
const STRICTER: &[Rule] = &[
    // Symmetric algorithms are never on the allow-list (`IssuerPolicy::validate` refuses
    // them) and `kty: oct` keys are skipped when the key set is built: an access token is
    // only ever verified with the issuer's public keys (RFC 8725 §2.1, §3.1; battery §3 item
    // 2). Wycheproof's HS256/384/512 `valid` cases (hs256, rfc7520 Figure35, base64, jws_keyset,
    // long_key groups) are therefore refused before any key is looked at.
    Rule {
        name: "symmetric alg (HS*) never allowed",
        reason: Reason::AlgNotAllowed,
        applies: |c| c.header_alg().is_some_and(|a| a.starts_with("HS")),
    },
    // ES512 (P-521) is not supported: jsonwebtoken 11 has no ES512, and P-521 JWKs are
    // skipped. RFC 7520 Figure27 (tc347, tc351).
    Rule {
        name: "ES512 / P-521 not supported",
        reason: Reason::AlgNotAllowed,
        applies: |c| c.header_alg().as_deref() == Some("ES512"),
    },
    // An empty payload segment is a malformed envelope: a JWT always has a claims set, and
    // all three segments must be non-empty (checked before anything is decoded).
    // `emptyPayload` cases tc259, tc264, tc268, tc272, tc320, tc325.
    Rule {
        name: "empty payload segment",
        reason: Reason::MalformedEnvelope,
        applies: |c| c.segments().get(1) == Some(&""),
    },
    // The header `alg` must be the `alg` the JWK is bound to (RFC 8725 §3.1: one key, one
    // algorithm). RFC 7520 Figure20 (tc346, tc350) is signed with PS384 but Wycheproof
    // publishes the key with `"alg": "PS256"`.
    Rule {
        name: "header alg differs from the JWK's alg",
        reason: Reason::KeyAlgMismatch,
        applies: |c| matches!((c.header_alg(), c.key_alg()), (Some(h), Some(k)) if h != k),
    },
    // Every segment must be canonical unpadded base64url. Wycheproof calls tc372/tc373 valid
    // although a '?' is inserted in the header/payload segment (a lenient decoder skips it);
    // PostgreSQL's own b64token check (RFC 6750) would not even pass such a token to us.
    Rule {
        name: "character outside the base64url alphabet",
        reason: Reason::MalformedEnvelope,
        applies: |c| {
            c.token
                .bytes()
                .any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'))
        },
    },
];

/// Cases Wycheproof calls `invalid` that our verification layer accepts, keyed by
/// `(file, tcId)`. Each is a known gap, reported to the lead; anything else accepted but
/// invalid fails the test, and so does an entry here that is no longer accepted (remove it
/// when the gap is closed).
/// Empty: json_web_key tc7 (a ROCA-vulnerable RSA key, CVE-2017-15361) was accepted until
/// `KeySet` learnt the ROCA fingerprint test.
const KNOWN_ACCEPTED: &[(&str, u64, &str)] = &[];

/// Why a disagreement is acceptable, or `None` if it is not explained.
fn disagreement(case: &Case, verdict: Verdict) -> Option<String> {
    match verdict {
        Verdict::Accepted(_) => {
            // Wycheproof data bug: base64 tc367 ("invalidBase64Padding") and tc370
            // ("invalidBase64PaddingInPayload") are byte-identical to the valid tc357, with
            // the same key, so no verifier can reject them without rejecting tc357.
            if case.valid_in_group.contains(&case.token) {
                return Some("data bug: token identical to a valid case".to_owned());
            }
            KNOWN_ACCEPTED
                .iter()
                .find(|(f, id, _)| *f == case.file && *id == case.tc_id)
                .map(|(_, _, why)| format!("known: {why}"))
        }
        Verdict::Rejected(reason) => STRICTER
            .iter()
            .find(|rule| (rule.applies)(case) && rule.reason == reason)
            .map(|rule| rule.name.to_owned()),
        Verdict::KeySetRefused => None,
    }
}

/// Flips one bit of the signature segment (its first byte), keeping it canonical base64url.
fn tampered(token: &str) -> Option<String> {
    let (input, signature) = token.rsplit_once('.')?;
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).ok()?;
    *bytes.first_mut()? ^= 0x01;
    Some(format!("{input}.{}", b64(bytes)))
}

#[derive(Default)]
struct Tally {
    total: usize,
    agree: usize,
    /// Disagreements explained by a rule, by rule name, with the tcIds.
    stricter: BTreeMap<String, Vec<u64>>,
    /// Wycheproof `invalid`, we accept, with the explanation (a data bug or a
    /// [`KNOWN_ACCEPTED`] entry).
    accepted_invalid: BTreeMap<String, Vec<u64>>,
    failures: Vec<String>,
}

impl Tally {
    fn summary(&self, label: &str) -> String {
        let stricter: usize = self.stricter.values().map(Vec::len).sum();
        let looser: usize = self.accepted_invalid.values().map(Vec::len).sum();
        format!(
            "wycheproof {label}: total {}, agree {}, stricter-by-rule {stricter} {:?}, \
             invalid-accepted {looser} {:?}, unexplained {}",
            self.total,
            self.agree,
            self.stricter,
            self.accepted_invalid,
            self.failures.len()
        )
    }
}

fn run(cases: &[Case], keys_for: impl Fn(&Case) -> Option<KeySet>) -> Tally {
    let mut tally = Tally::default();
    for case in cases {
        tally.total += 1;
        let verdict = match keys_for(case) {
            Some(keys) => {
                let verdict = judge(&case.token, &keys);
                if let Verdict::Accepted(_) = verdict {
                    // Oracle check: the signature is what let the token through.
                    let bad = tampered(&case.token).map(|t| judge(&t, &keys));
                    if bad != Some(Verdict::Rejected(Reason::BadSignature)) {
                        tally.failures.push(format!(
                            "{} tc{} {}: accepted, but a tampered signature gives {bad:?}",
                            case.file, case.tc_id, case.comment
                        ));
                    }
                }
                verdict
            }
            None => Verdict::KeySetRefused,
        };
        let agrees = match (case.result.as_str(), verdict) {
            ("acceptable", _) => true,
            ("valid", Verdict::Accepted(_)) => true,
            ("invalid", Verdict::Rejected(_) | Verdict::KeySetRefused) => true,
            ("valid" | "invalid", _) => false,
            (other, _) => panic!("tc{}: unknown result {other:?}", case.tc_id),
        };
        if agrees {
            tally.agree += 1;
            continue;
        }
        match (disagreement(case, verdict), verdict) {
            (Some(why), Verdict::Accepted(_)) => tally
                .accepted_invalid
                .entry(why)
                .or_default()
                .push(case.tc_id),
            (Some(why), _) => tally.stricter.entry(why).or_default().push(case.tc_id),
            (None, _) => tally.failures.push(format!(
                "{} tc{} {} ({}): Wycheproof says {}, we say {verdict:?}",
                case.file, case.tc_id, case.comment, case.token, case.result
            )),
        }
    }
    tally
}

fn key_set_of(case: &Case) -> Option<KeySet> {
    KeySet::from_jwks_json(case.jwks.to_string().as_bytes(), &JwksLimits::default()).ok()
}

/// Fails on unexplained disagreements, and unless the stricter rules used and the
/// accepted-invalid tcIds are exactly the expected ones (so no rule or entry goes stale).
fn check(tally: &Tally, label: &str, expected_rules: &[&str], expected_accepted: &[u64]) {
    eprintln!("{}", tally.summary(label));
    assert!(
        tally.failures.is_empty(),
        "{label}: unexplained disagreements with Wycheproof:\n{}",
        tally.failures.join("\n")
    );
    let used: Vec<&str> = tally.stricter.keys().map(String::as_str).collect();
    assert_eq!(used, expected_rules, "{label}: stricter rules used");
    let mut accepted: Vec<u64> = tally.accepted_invalid.values().flatten().copied().collect();
    accepted.sort_unstable();
    assert_eq!(
        accepted, expected_accepted,
        "{label}: Wycheproof-invalid cases we accept: {:?}",
        tally.accepted_invalid
    );
}

#[test]
fn json_web_signature_vectors_agree_or_are_stricter_by_rule() {
    let cases = cases(SIGNATURE_FILE);
    let tally = run(&cases, key_set_of);
    check(
        &tally,
        SIGNATURE_FILE,
        &[
            "ES512 / P-521 not supported",
            "character outside the base64url alphabet",
            "empty payload segment",
            "header alg differs from the JWK's alg",
            "symmetric alg (HS*) never allowed",
        ],
        // None. (HS256 is refused before the payload or signature is decoded, so the
        // tc367/tc370 data bug does not show here; it does in the re-signed base64 test.)
        &[],
    );
}

#[test]
fn json_web_key_vectors_agree_or_are_stricter_by_rule() {
    let cases = cases(KEY_FILE);
    let tally = run(&cases, key_set_of);
    check(
        &tally,
        KEY_FILE,
        &["symmetric alg (HS*) never allowed"],
        // None: the ROCA key (tc7) is refused by the key layer.
        &[],
    );
}

/// In the key file every `invalid` case but `rejectsModifiedSignature` is a correct signature
/// under a bad key or key set, so what must refuse it is the key layer. Two of them (tc8,
/// 1024-bit modulus; tc9, exponent 1) also have an empty payload, which the envelope refuses
/// before any key is looked at: the end-to-end verdict says nothing about the key there. So
/// the key layer is checked on its own: [`KeySet::select`] must find no usable key for the
/// header's `kid` and `alg`.
#[test]
fn json_web_key_invalid_keys_are_unusable() {
    let mut refused = BTreeMap::<&str, Vec<u64>>::new();
    let mut usable = Vec::new();
    let mut failures = Vec::new();
    let cases = cases(KEY_FILE);
    let key_cases: Vec<&Case> = cases
        .iter()
        .filter(|c| c.result == "invalid" && c.comment != "rejectsModifiedSignature")
        .collect();
    for case in &key_cases {
        let header = case.header().expect("key-file headers are canonical JSON");
        let alg: Algorithm = header["alg"].as_str().unwrap().parse().unwrap();
        let kid = header.get("kid").and_then(Value::as_str);
        let keys = key_set_of(case).expect("key-file key sets are well-formed");
        match keys.select(kid, alg) {
            Err(reason) => refused.entry(reason.code()).or_default().push(case.tc_id),
            Ok(_) => match KNOWN_ACCEPTED
                .iter()
                .find(|(f, id, _)| *f == KEY_FILE && *id == case.tc_id)
            {
                Some(_) => usable.push(case.tc_id),
                None => failures.push(format!(
                    "tc{} {}: the key is usable for {alg:?}",
                    case.tc_id, case.comment
                )),
            },
        }
    }
    eprintln!(
        "wycheproof {KEY_FILE} key layer: {} bad keys, refused {refused:?}, usable {usable:?}",
        key_cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The ROCA key (tc7) included.
    assert!(usable.is_empty(), "{usable:?}");
}

/// The `base64` group is HS256 and so refused on its `alg` before the payload and signature
/// segments are decoded: run through `verify_jwt` as is, it says nothing about our base64url
/// strictness. Here each case is re-signed with an ES256 key, keeping every segment that is
/// not canonical base64url byte for byte: the header becomes the same JSON text with `ES256`
/// (whitespace kept, tc376/tc377), the payload segment is kept verbatim, and a canonical MAC
/// is replaced by an ES256 signature over the new signing input (a non-canonical one is kept,
/// so its encoding is judged). Wycheproof's verdicts must still hold.
#[test]
fn base64_group_resigned_with_es256_agrees() {
    let mut jwk = EC256.jwk.clone();
    jwk["kid"] = json!("hs256-key");
    let keys = KeySet::from_jwks_json(
        json!({ "keys": [jwk] }).to_string().as_bytes(),
        &JwksLimits::default(),
    )
    .unwrap();
    // ECDSA signatures are randomized: sign each distinct input once, so that byte-identical
    // Wycheproof tokens (the tc357/tc367/tc370 data bug) stay identical after re-signing.
    let signatures = RefCell::new(HashMap::<String, String>::new());
    let resign = |token: &str| -> String {
        let mut parts = token.splitn(3, '.');
        let (h, p, s) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let header = match URL_SAFE_NO_PAD.decode(h).map(String::from_utf8) {
            Ok(Ok(text)) => b64(text.replace("\"HS256\"", "\"ES256\"")),
            _ => h.to_owned(),
        };
        let input = format!("{header}.{p}");
        let signature = if URL_SAFE_NO_PAD.decode(s).is_ok() {
            signatures
                .borrow_mut()
                .entry(input.clone())
                .or_insert_with(|| b64(sign(&EC256, Algorithm::ES256, input.as_bytes())))
                .clone()
        } else {
            s.to_owned()
        };
        format!("{input}.{signature}")
    };
    let resigned: Vec<Case> = cases(SIGNATURE_FILE)
        .into_iter()
        .filter(|c| (357..=377).contains(&c.tc_id))
        .map(|c| Case {
            token: resign(&c.token),
            valid_in_group: c.valid_in_group.iter().map(|t| resign(t)).collect(),
            jwks: json!({ "keys": [] }),
            ..c
        })
        .collect();
    assert_eq!(resigned.len(), 21);
    let tally = run(&resigned, |_| Some(keys.clone()));
    check(
        &tally,
        "base64 group re-signed with ES256",
        &["character outside the base64url alphabet"],
        // The data bug: tc367 and tc370 are byte-identical to the valid tc357.
        &[367, 370],
    );
}

/// Battery §4 A item 5: the RFC 7520 ("JOSE Cookbook") signature examples, as Wycheproof
/// carries them (each figure twice, with `use: sig` and with `key_ops: [verify]`). §4.1
/// (Figure 13, RS256) and §4.2 (Figure 20, PS384) must verify; §4.3 (Figure 27, ES512 on
/// P-521) and §4.4 (Figure 35, HS256) are refused by policy before any key is used. The
/// payload is prose, not a claims set, so "verifies" means the token got past the signature
/// (see [`Verdict`]), and a one-bit change of the signature must then fail.
#[test]
fn a05_rfc7520_cookbook_signatures_verify_or_are_refused_by_policy() {
    let figures: Vec<Case> = cases(SIGNATURE_FILE)
        .into_iter()
        .filter(|c| c.comment.starts_with("Figure"))
        .collect();
    let ids: Vec<(u64, &str)> = figures
        .iter()
        .map(|c| (c.tc_id, c.comment.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            (345, "Figure13"),
            (346, "Figure20"),
            (347, "Figure27"),
            (348, "Figure35"),
            (349, "Figure13"),
            (350, "Figure20"),
            (351, "Figure27"),
            (352, "Figure35"),
        ]
    );
    let assert_verifies = |case: &Case, keys: &KeySet| {
        assert_eq!(
            judge(&case.token, keys),
            Verdict::Accepted(Some(Reason::MalformedPayload)),
            "tc{} {}",
            case.tc_id,
            case.comment
        );
        let bad = tampered(&case.token).unwrap();
        assert_eq!(
            judge(&bad, keys),
            Verdict::Rejected(Reason::BadSignature),
            "tc{} {} tampered",
            case.tc_id,
            case.comment
        );
    };
    for case in &figures {
        let keys = key_set_of(case).expect("the cookbook key sets are well-formed");
        match case.comment.as_str() {
            // §4.1: RSA PKCS#1 v1.5 with SHA-256.
            "Figure13" => {
                assert_eq!(case.header_alg().as_deref(), Some("RS256"));
                assert_verifies(case, &keys);
            }
            // §4.2: RSA-PSS with SHA-384. RFC 7520 §3.4 publishes the key without `alg`;
            // Wycheproof labels it PS256, which binds it to PS256 only (one key, one alg).
            "Figure20" => {
                assert_eq!(case.header_alg().as_deref(), Some("PS384"));
                assert_eq!(
                    judge(&case.token, &keys),
                    Verdict::Rejected(Reason::KeyAlgMismatch)
                );
                let mut as_published = case.jwks.clone();
                as_published["keys"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("alg");
                let keys = KeySet::from_jwks_json(
                    as_published.to_string().as_bytes(),
                    &JwksLimits::default(),
                )
                .unwrap();
                assert_verifies(case, &keys);
            }
            // §4.3: ECDSA P-521 with SHA-512: not supported, and the P-521 key is skipped.
            "Figure27" => {
                assert_eq!(case.header_alg().as_deref(), Some("ES512"));
                assert_eq!(keys.keys().len(), 0);
                assert_eq!(
                    judge(&case.token, &keys),
                    Verdict::Rejected(Reason::AlgNotAllowed)
                );
            }
            // §4.4: HMAC-SHA256 with a shared key: never for access tokens.
            "Figure35" => {
                assert_eq!(case.header_alg().as_deref(), Some("HS256"));
                assert_eq!(keys.keys().len(), 0, "kty oct is never usable");
                assert_eq!(
                    judge(&case.token, &keys),
                    Verdict::Rejected(Reason::AlgNotAllowed)
                );
            }
            other => panic!("unexpected figure {other}"),
        }
    }
}
