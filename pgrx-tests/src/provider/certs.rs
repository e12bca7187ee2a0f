//! TLS material for the mock provider: a CA of its own and one server certificate per
//! [`TlsMode`], all generated at start (ECDSA P-256, a few milliseconds in all).

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use time::{Duration, OffsetDateTime};

/// How the provider presents itself on the wire. Switchable at run time with
/// [`super::MockProvider::set_tls_mode`]; the issuer URL keeps the scheme chosen at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// HTTPS with a certificate for `localhost`, `127.0.0.1` and `::1` signed by the provider's
    /// CA (the one in [`super::MockProvider::ca_pem_path`]). The default.
    #[default]
    Trusted,
    /// HTTPS with a certificate for the right names, signed by a different CA that nobody
    /// trusts.
    UntrustedCa,
    /// HTTPS with a self-signed certificate for the right names.
    SelfSigned,
    /// HTTPS with a certificate signed by the provider's CA whose validity ended yesterday.
    Expired,
    /// HTTPS with a certificate signed by the provider's CA for `wrong.example` only.
    WrongHost,
    /// Plain HTTP, no TLS. Chosen at start, the issuer is `http://...`; switched to at run
    /// time, an `https://` client meets a plain-text answer.
    PlainHttp,
    /// Accepts the TCP connection and never says anything (no TLS handshake, no HTTP): a
    /// tarpit before any request can be read, so per-path faults cannot express it. The
    /// connection is closed when the client gives up or the provider is dropped.
    Silent,
}

/// The host names and addresses the good certificates are issued for.
pub const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The name the [`TlsMode::WrongHost`] certificate is issued for.
pub const WRONG_HOST: &str = "wrong.example";

/// Server configurations for every TLS mode, and the trusted CA's PEM.
pub(crate) struct TlsMaterial {
    /// The provider's CA certificate (PEM), the one clients should trust.
    pub ca_pem: String,
    trusted: Arc<ServerConfig>,
    untrusted_ca: Arc<ServerConfig>,
    self_signed: Arc<ServerConfig>,
    expired: Arc<ServerConfig>,
    wrong_host: Arc<ServerConfig>,
}

impl TlsMaterial {
    /// Generates the CAs and every server certificate.
    pub(crate) fn generate() -> TlsMaterial {
        let now = OffsetDateTime::now_utc();
        let valid = (now - Duration::days(1), now + Duration::days(30));
        let expired = (now - Duration::days(30), now - Duration::days(1));
        let names: Vec<String> = SERVER_NAMES.iter().map(|s| (*s).to_owned()).collect();

        let (ca_cert, ca) = certificate_authority("pg_bearer mock provider CA", valid);
        let (_, rogue_ca) = certificate_authority("pg_bearer untrusted CA", valid);

        let leaf = |names: &[String], validity, issuer: &Issuer<'_, KeyPair>| {
            let key = KeyPair::generate().expect("rcgen generates a P-256 key");
            let cert = server_params(names, validity)
                .signed_by(&key, issuer)
                .expect("rcgen signs the server certificate");
            server_config(cert.der().clone(), &key)
        };
        let self_signed = {
            let key = KeyPair::generate().expect("rcgen generates a P-256 key");
            let cert = server_params(&names, valid)
                .self_signed(&key)
                .expect("rcgen self-signs");
            server_config(cert.der().clone(), &key)
        };
        TlsMaterial {
            ca_pem: ca_cert,
            trusted: leaf(&names, valid, &ca),
            untrusted_ca: leaf(&names, valid, &rogue_ca),
            self_signed,
            expired: leaf(&names, expired, &ca),
            wrong_host: leaf(&[WRONG_HOST.to_owned()], valid, &ca),
        }
    }

    /// The server configuration for a TLS mode; `None` for the modes without TLS.
    pub(crate) fn config(&self, mode: TlsMode) -> Option<Arc<ServerConfig>> {
        match mode {
            TlsMode::Trusted => Some(self.trusted.clone()),
            TlsMode::UntrustedCa => Some(self.untrusted_ca.clone()),
            TlsMode::SelfSigned => Some(self.self_signed.clone()),
            TlsMode::Expired => Some(self.expired.clone()),
            TlsMode::WrongHost => Some(self.wrong_host.clone()),
            TlsMode::PlainHttp | TlsMode::Silent => None,
        }
    }
}

/// A self-signed CA: its PEM and an issuer to sign server certificates with.
fn certificate_authority(
    name: &str,
    (not_before, not_after): (OffsetDateTime, OffsetDateTime),
) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("rcgen generates a P-256 key");
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.self_signed(&key).expect("rcgen self-signs the CA");
    (cert.pem(), Issuer::new(params, key))
}

fn server_params(
    names: &[String],
    (not_before, not_after): (OffsetDateTime, OffsetDateTime),
) -> CertificateParams {
    let mut params =
        CertificateParams::new(names.to_vec()).expect("valid DNS names and IP addresses");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "pg_bearer mock provider");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

fn server_config(cert: CertificateDer<'static>, key: &KeyPair) -> Arc<ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("aws-lc-rs supports the default TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("the generated key matches its certificate");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}
