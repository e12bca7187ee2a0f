//! Each bad input is one line on stderr, nothing on stdout, the exit code docs/client.md
//! documents, and no secret or token in what is printed. The provider here is the harness's
//! HTTPS mock (it injects the faults); logins against a real PostgreSQL and the real OpenID
//! provider are in login.rs.

mod common;

use std::time::{Duration, Instant};

use common::{client, jwt_with_exp, now, one_line_failure, printed};
use pg_bearer_e2e::provider::{Endpoint, Fault, MockProvider, ProviderOptions};

const SECRET: &str = "k9-Secret-That-Must-Never-Show";

struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("pg_bearer_client-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn grant(scratch: &Scratch, provider: &MockProvider, extra: &[&str]) -> std::process::Output {
    let ca = provider.ca_pem_path().display().to_string();
    client(&scratch.0)
        .args([
            "token",
            "--client-credentials",
            "service",
            "--scope",
            "postgres",
        ])
        .args([
            "--issuer",
            provider.issuer(),
            "--ca-file",
            &ca,
            "--timeout",
            "2",
        ])
        .args(extra)
        .env("PG_BEARER_CLIENT_SECRET", SECRET)
        .output()
        .expect("run pg_bearer_client")
}

fn assert_no_secret(out: &std::process::Output) {
    assert!(!printed(out).contains(SECRET), "{}", printed(out));
    assert!(!printed(out).contains("eyJ"), "no token: {}", printed(out));
}

#[test]
fn an_unreachable_provider_is_exit_4() {
    let scratch = Scratch::new("unreachable");
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let out = client(&scratch.0)
        .args(["token", "--client-credentials", "service"])
        .args(["--issuer", &format!("https://127.0.0.1:{port}")])
        .env("PG_BEARER_CLIENT_SECRET", SECRET)
        .output()
        .expect("run");
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 4, "{line}");
    assert!(line.contains("provider unreachable"), "{line}");
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    assert_no_secret(&out);
}

#[test]
fn a_hung_provider_is_exit_4_within_the_timeout() {
    let scratch = Scratch::new("hung");
    let provider = MockProvider::start(ProviderOptions::default());
    provider.set_fault(Endpoint::OpenIdConfiguration, Fault::Hang);
    let started = Instant::now();
    let out = grant(&scratch, &provider, &["--timeout", "1"]);
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 4, "{line}");
    assert!(line.contains("timed out"), "{line}");
    // Generous bound: the point is that the deadline holds, not its precision.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_no_secret(&out);
}

#[test]
fn an_untrusted_certificate_is_exit_4() {
    let scratch = Scratch::new("untrusted");
    let provider = MockProvider::start(ProviderOptions::default());
    // Without --ca-file the mock's private CA is not trusted.
    let out = client(&scratch.0)
        .args(["token", "--client-credentials", "service"])
        .args(["--issuer", provider.issuer()])
        .env("PG_BEARER_CLIENT_SECRET", SECRET)
        .output()
        .expect("run");
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 4, "{line}");
    assert!(
        line.contains("certificate") || line.contains("UnknownIssuer"),
        "{line}"
    );
    assert_eq!(provider.count(Endpoint::Token), 0, "no token request");
}

#[test]
fn an_issuer_mismatch_is_exit_5_and_names_both_issuers() {
    let scratch = Scratch::new("mismatch");
    let provider = MockProvider::start(ProviderOptions::default());
    let other = format!("{}/", provider.issuer());
    provider.set_fault(
        Endpoint::OpenIdConfiguration,
        Fault::IssuerMismatch(other.clone()),
    );
    provider.set_fault(
        Endpoint::OAuthServerMetadata,
        Fault::IssuerMismatch(other.clone()),
    );
    let out = grant(&scratch, &provider, &[]);
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 5, "{line}");
    assert!(line.contains(&format!("\"{other}\"")), "{line}");
    assert!(
        line.contains(&format!("\"{}\"", provider.issuer())),
        "{line}"
    );
    assert_eq!(
        provider.count(Endpoint::Token),
        0,
        "the secret went nowhere"
    );
    assert_no_secret(&out);
}

#[test]
fn discovery_without_a_token_endpoint_is_exit_5() {
    let scratch = Scratch::new("no-token-endpoint");
    let provider = MockProvider::start(ProviderOptions::default());
    provider.set_metadata_field("token_endpoint", None);
    let out = grant(&scratch, &provider, &[]);
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 5, "{line}");
    assert!(line.contains("token_endpoint"), "{line}");
    assert_no_secret(&out);
}

#[test]
fn a_plain_http_token_endpoint_is_refused() {
    let scratch = Scratch::new("http-token-endpoint");
    let provider = MockProvider::start(ProviderOptions::default());
    let http = provider
        .url(Endpoint::Token)
        .replacen("https://", "http://", 1);
    provider.set_metadata_field("token_endpoint", Some(serde_json::Value::String(http)));
    let out = grant(&scratch, &provider, &[]);
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 5, "{line}");
    assert_eq!(provider.count(Endpoint::Token), 0);
    assert_no_secret(&out);
}

#[test]
fn an_http_error_is_exit_6_with_status_and_oauth_error() {
    let scratch = Scratch::new("http-error");
    let provider = MockProvider::start(ProviderOptions::default());
    // The mock's token endpoint refuses every grant: 400 unsupported_grant_type.
    let out = grant(&scratch, &provider, &[]);
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 6, "{line}");
    assert!(line.contains("HTTP 400"), "{line}");
    assert!(line.contains("unsupported_grant_type"), "{line}");
    assert_no_secret(&out);

    // A failing discovery document: its status and the provider's error.
    provider.set_fault(Endpoint::OpenIdConfiguration, Fault::Status(503));
    let out = grant(&scratch, &provider, &[]);
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 6, "{line}");
    assert!(line.contains("HTTP 503"), "{line}");
    assert!(line.contains("injected_503"), "{line}");
}

#[test]
fn a_token_answer_without_a_bearer_token_is_exit_6() {
    let scratch = Scratch::new("no-bearer");
    let provider = MockProvider::start(ProviderOptions::default());
    provider.set_fault(
        Endpoint::Token,
        Fault::Body(
            r#"{"access_token":"abc","token_type":"mac"}"#.into(),
            "application/json".into(),
        ),
    );
    let out = grant(&scratch, &provider, &[]);
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 6, "{line}");
    assert!(line.contains("without a bearer access_token"), "{line}");
}

#[test]
fn an_expired_token_is_exit_7() {
    let scratch = Scratch::new("expired");
    let expired = jwt_with_exp(now() - 120);
    let out = client(&scratch.0)
        .args(["token", "--token", &expired])
        .output()
        .expect("run");
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 7, "{line}");
    assert!(line.contains("expired"), "{line}");
    assert!(!printed(&out).contains(&expired[..20]));

    // The same from the provider's own answer.
    let provider = MockProvider::start(ProviderOptions::default());
    provider.set_fault(
        Endpoint::Token,
        Fault::Body(
            format!(r#"{{"access_token":"{expired}","token_type":"Bearer","expires_in":60}}"#),
            "application/json".into(),
        ),
    );
    let out = grant(&scratch, &provider, &[]);
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 7, "{line}");
    assert_no_secret(&out);
}

#[test]
fn a_missing_or_unreadable_secret_file_is_exit_3() {
    let scratch = Scratch::new("secret-file");
    let provider = MockProvider::start(ProviderOptions::default());
    let missing = scratch.path("missing.secret");
    let out = grant(&scratch, &provider, &["--client-secret-file", &missing]);
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 3, "{line}");
    assert!(
        line.contains(&missing) && line.contains("no such file"),
        "{line}"
    );

    // A directory, a file that is not text, an empty file: unreadable as a secret.
    let dir = scratch.path("a-directory");
    std::fs::create_dir(&dir).expect("dir");
    let binary = scratch.path("binary.secret");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).expect("write");
    let empty = scratch.path("empty.secret");
    std::fs::write(&empty, "\n").expect("write");
    for path in [&dir, &binary, &empty] {
        let out = grant(&scratch, &provider, &["--client-secret-file", path]);
        let (line, code) = one_line_failure(&out);
        assert_eq!(code, 3, "{line}");
        assert!(line.contains(path.as_str()), "{line}");
    }
    // None of these reached the provider.
    assert_eq!(provider.count_total(), 0);
}

#[test]
fn an_unset_secret_variable_is_exit_3() {
    let scratch = Scratch::new("secret-env");
    let out = client(&scratch.0)
        .args(["token", "--client-credentials", "service"])
        .args([
            "--issuer",
            "https://127.0.0.1:9",
            "--client-secret-env",
            "NO_SUCH_SECRET_VAR",
        ])
        .env_remove("NO_SUCH_SECRET_VAR")
        .output()
        .expect("run");
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 3, "{line}");
    assert!(line.contains("$NO_SUCH_SECRET_VAR is not set"), "{line}");
}

#[test]
fn a_missing_token_file_or_variable_is_exit_3() {
    let scratch = Scratch::new("token-file");
    let missing = scratch.path("token");
    let out = client(&scratch.0)
        .args(["token", "--token-file", &missing])
        .output()
        .expect("run");
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 3, "{line}");
    // No source at all: PG_BEARER_TOKEN, which is unset.
    let out = client(&scratch.0).arg("token").output().expect("run");
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 3, "{line}");
    assert!(line.contains("$PG_BEARER_TOKEN is not set"), "{line}");
}

#[test]
fn a_failing_token_command_is_exit_8() {
    let scratch = Scratch::new("command");
    let cases = [
        (
            "echo 'diagnostics go to stderr' >&2; exit 3",
            "exited with status 3",
        ),
        ("true", "printed no token"),
        ("kill -9 $$", "killed by a signal"),
        ("echo '{\"expires\": 1}'", "without access_token"),
        ("echo '{not json'", "does not parse"),
    ];
    for (command, expected) in cases {
        let out = client(&scratch.0)
            .args(["token", "--token-command", command])
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The command's own stderr passes through; the client adds one line of its own.
        let ours: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("pg_bearer_client: "))
            .collect();
        assert_eq!(ours.len(), 1, "{command}: {stderr}");
        assert!(ours[0].contains(expected), "{command}: {stderr}");
        assert_eq!(out.status.code(), Some(8), "{command}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn something_that_is_not_a_token_is_exit_9() {
    let scratch = Scratch::new("not-a-token");
    let huge = "a".repeat(17 * 1024);
    for bad in ["two words", "tok\"en", huge.as_str()] {
        let out = client(&scratch.0)
            .args(["token", "--token", bad])
            .output()
            .expect("run");
        let (line, code) = one_line_failure(&out);
        assert_eq!(code, 9, "{line}");
        assert!(!line.contains(bad), "the bad value is not echoed: {line}");
    }
    // A command that prints HTML (a login page instead of a token).
    let out = client(&scratch.0)
        .args(["token", "--token-command", "echo '<html>sign in</html>'"])
        .output()
        .expect("run");
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 9, "{line}");
}

#[test]
fn usage_errors_are_exit_2() {
    let scratch = Scratch::new("usage");
    let cases: &[&[&str]] = &[
        &[],
        &["tokens"],
        &["token", "--token", "a", "--token-file", "/f"],
        &["token", "--bogus"],
        &["token", "--token"],
        &["token", "--client-credentials", "service"],
        &[
            "token",
            "--client-credentials",
            "svc",
            "--issuer",
            "https://i",
            "--client-secret",
            SECRET,
        ],
        &["token", "--token", "abc", "--scope", "x"],
        &["token", "--timeout", "0", "--token", "abc"],
        &["token", "--token", "abc", "--", "psql"],
        &["exec", "--token", "abc"],
        &["exec", "--token", "abc", "--"],
    ];
    for args in cases {
        let out = client(&scratch.0).args(*args).output().expect("run");
        let (line, code) = one_line_failure(&out);
        assert_eq!(code, 2, "{args:?}: {line}");
        assert!(!line.contains(SECRET), "{line}");
    }
    let out = client(&scratch.0).arg("--help").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("usage: pg_bearer_client token"));
}

#[test]
fn a_command_that_cannot_run_is_exit_10() {
    let scratch = Scratch::new("exec");
    let out = client(&scratch.0)
        .args(["exec", "--token", "abc", "--", "/nonexistent/psql"])
        .output()
        .expect("run");
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 10, "{line}");
    assert!(line.contains("/nonexistent/psql"), "{line}");
}

#[test]
fn a_cache_directory_others_can_write_to_is_refused() {
    let scratch = Scratch::new("cache");
    let cache = scratch.0.join("pg_bearer_client");
    std::fs::create_dir(&cache).expect("dir");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = client(&scratch.0)
        .args(["exec", "--token", "abc", "--", "true"])
        .output()
        .expect("run");
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 10, "{line}");
    assert!(line.contains("only this user can write"), "{line}");
}

#[test]
fn verbose_says_where_the_token_came_from_never_the_token() {
    let scratch = Scratch::new("verbose");
    let token = jwt_with_exp(now() + 600);
    let out = client(&scratch.0)
        .args(["token", "--token-env", "MY_TOKEN", "-v"])
        .env("MY_TOKEN", &token)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", printed(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), token);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("token from $MY_TOKEN"), "{stderr}");
    assert!(
        stderr.contains(&format!("{} bytes", token.len())),
        "{stderr}"
    );
    assert!(!stderr.contains(&token[..16]), "{stderr}");
}
