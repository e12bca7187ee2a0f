//! A PAM service for pam_bearer.so, for the end-to-end tests and the benchmark: a copy of the
//! module the server's OS user can read, a configuration file, and `/etc/pam.d/<service>`
//! (so: root only), removed again on drop.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// One PAM service with its module copy, configuration file and cache directory; the service
/// file is removed when dropped.
pub struct PamSetup {
    pub service: String,
    dir: PathBuf,
}

impl PamSetup {
    pub fn new(module: &Path, config: &str) -> PamSetup {
        PamSetup::with_args(module, config, |conf| format!("config={conf}"))
    }

    /// A service whose lines pass `args(config path)` to the module.
    pub fn with_args(module: &Path, config: &str, args: impl Fn(&str) -> String) -> PamSetup {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let service = format!("pg_bearer_e2e_{}_{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("pam_bearer-e2e-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let so = dir.join("pam_bearer.so");
        std::fs::copy(module, &so).unwrap_or_else(|e| panic!("copy {}: {e}", module.display()));
        std::fs::set_permissions(&so, std::fs::Permissions::from_mode(0o755)).unwrap();
        let setup = PamSetup { service, dir };
        setup.write_config(config);
        let conf = setup.dir.join("pam.toml");
        let args = args(&conf.to_string_lossy());
        std::fs::write(
            format!("/etc/pam.d/{}", setup.service),
            format!(
                "auth required {so} {args}\naccount required {so} {args}\n",
                so = so.display(),
            ),
        )
        .expect("write /etc/pam.d (the PAM tests run as root)");
        setup
    }

    /// Replaces the configuration file (mode 0644).
    pub fn write_config(&self, config: &str) {
        let conf = self.dir.join("pam.toml");
        std::fs::write(&conf, config).unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    /// The configuration file's path.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("pam.toml")
    }

    /// A cache directory for the module, inside this setup's directory, 0700 and owned by the
    /// OS user the servers run as.
    pub fn server_cache_dir(&self) -> PathBuf {
        let dir = self.cache_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        self.chown_to_server_user(&dir);
        dir
    }

    /// Makes the configuration file fit to hold a client secret: 0600, owned by the OS user
    /// the servers run as.
    pub fn make_config_secret(&self) {
        let conf = self.config_path();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
        self.chown_to_server_user(&conf);
    }

    fn chown_to_server_user(&self, path: &Path) {
        if let Some(user) = crate::cluster::run_as_user() {
            assert!(
                Command::new("chown")
                    .arg(format!("{user}:"))
                    .arg(path)
                    .status()
                    .is_ok_and(|s| s.success()),
                "chown {user} {}",
                path.display()
            );
        }
    }

    /// The cache directory's path, inside this setup's directory.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.join("cache")
    }

    /// The pg_hba line for TCP logins from loopback through this service.
    pub fn hba(&self) -> String {
        format!("host all all 127.0.0.1/32 pam pamservice={}", self.service)
    }
}

impl Drop for PamSetup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/etc/pam.d/{}", self.service));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
