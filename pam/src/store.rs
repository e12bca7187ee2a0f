//! The key cache and the result cache in files, shared by every login of the server's OS user.
//!
//! Why files: PostgreSQL 14-17 run a PAM module inside a freshly forked backend at every login,
//! with no shared memory it could use, so what one login learnt from the provider reaches the
//! next only through the file system. The records' bytes and their checks are
//! `pg_bearer_core::cache_file`'s; the cache state machine is the same as PostgreSQL 18's.
//!
//! The rules: the directory is the OS user's own (created 0700; refused if it is a symlink,
//! owned by someone else, or group- or world-writable), as is every file read from it. A
//! slot's state is read, decided on and written back while its lock file is `flock`ed, and no
//! lock is held while the provider is asked. Writes go to a temporary file renamed over the
//! old one, so a reader sees the old record or the new one, never a part. A record that does
//! not decode is ignored and replaced. When the cache cannot be used the login goes on without
//! it (every login then asks the provider), never towards acceptance.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pg_bearer_core::cache::IssuerCacheState;
use pg_bearer_core::cache_file::{
    decode_budgets, encode_budgets, KeyLimits, KeyRecord, ResultRecord,
};
use pg_bearer_core::request_budget::{self, BudgetPolicy, RequestBudget};
use pg_bearer_core::result_cache::{EntryKind, Tag, MAX_CACHED_BODY};
use pg_bearer_provider::{KeySlot, KeyStore, ResultStore, JWKS_MAX, META_MAX};

/// Longest slot name (issuer, key source and transport).
const NAME_MAX: usize = 2048;
/// Longest last-error text kept.
const ERROR_MAX: usize = 512;
const LIMITS: KeyLimits = KeyLimits {
    name: NAME_MAX,
    meta: META_MAX,
    jwks: JWKS_MAX,
    error: ERROR_MAX,
};
/// Largest key file read.
const KEY_FILE_MAX: usize = NAME_MAX + META_MAX + JWKS_MAX + ERROR_MAX + 256;
/// Largest result file read.
const RESULT_FILE_MAX: usize = MAX_CACHED_BODY + 256;
/// Result files kept at most; beyond it, expired and unreadable ones are swept, and a new
/// answer is not kept while the directory is still full.
const RESULTS_MAX: usize = 1024;
/// Issuers with an unknown-token budget at once.
const BUDGETS: usize = 16;
/// Longest wait for a slot's lock: holders copy a few kilobytes, so this is only reached when
/// something is wrong, and the login then goes on without the cache.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// The cache directory, checked; `None` when there is none usable (the reason was logged).
#[derive(Clone, Debug)]
pub struct CacheDir {
    path: PathBuf,
}

impl CacheDir {
    /// Opens (creating it 0700 if missing) the cache directory at `path`. `Err` says why it
    /// cannot be used.
    pub fn open(path: &Path) -> Result<CacheDir, String> {
        if fs::symlink_metadata(path).is_err() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        }
        let meta = fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !meta.is_dir() {
            return Err(format!("{} is not a directory", path.display()));
        }
        check_ours(&meta).map_err(|e| format!("{} {e}", path.display()))?;
        Ok(CacheDir {
            path: path.to_owned(),
        })
    }

    /// Where the cache lives when the configuration does not say: under the OS user's home
    /// (`~/.cache/pam_bearer`) when it has one of its own, else in its runtime directory
    /// (`/run/user/UID/pam_bearer`), else `/tmp/pam_bearer-UID`.
    pub fn default_path() -> PathBuf {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        if let Some(home) = home_of(uid) {
            if fs::metadata(&home).is_ok_and(|m| m.is_dir() && m.uid() == uid) {
                return home.join(".cache").join("pam_bearer");
            }
        }
        let run = PathBuf::from(format!("/run/user/{uid}"));
        if fs::metadata(&run).is_ok_and(|m| m.is_dir() && m.uid() == uid) {
            return run.join("pam_bearer");
        }
        std::env::temp_dir().join(format!("pam_bearer-{uid}"))
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// The home directory of `uid` from the password database.
fn home_of(uid: libc::uid_t) -> Option<PathBuf> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: all-zero is a valid passwd (plain pointers and integers).
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r (pwd.h) writes into pwd and buf, both ours and of the sizes given,
    // and sets result to &pwd or NULL.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
        return None;
    }
    // SAFETY: on success pw_dir points to a NUL-terminated string inside buf.
    let dir = unsafe { std::ffi::CStr::from_ptr(pwd.pw_dir) };
    let dir = dir.to_str().ok()?;
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// A file or directory must be the OS user's own and writable by no one else.
fn check_ours(meta: &fs::Metadata) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!("is owned by uid {}, not by uid {me}", meta.uid()));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(format!("has mode {mode:04o}: group or others can write it"));
    }
    Ok(())
}

/// Whether the process `pid` exists (`kill(pid, 0)`: only ESRCH means it does not; a process
/// of another user, EPERM, exists).
pub fn process_alive(pid: std::num::NonZeroI32) -> bool {
    // SAFETY: signal 0 sends nothing; kill only checks that the process exists.
    let rc = unsafe { libc::kill(pid.get(), 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// A lowercase hex string of the first `n` bytes.
fn hex(bytes: &[u8], n: usize) -> String {
    bytes.iter().take(n).map(|b| format!("{b:02x}")).collect()
}

/// An exclusive `flock` on a lock file, released when dropped.
struct Locked(File);

impl Locked {
    fn take(path: &Path) -> Result<Locked, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let meta = file.metadata().map_err(|e| e.to_string())?;
        check_ours(&meta).map_err(|e| format!("{} {e}", path.display()))?;
        let started = Instant::now();
        loop {
            // SAFETY: flock on a descriptor this function owns.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(Locked(file));
            }
            if started.elapsed() > LOCK_WAIT {
                return Err(format!(
                    "{}: still locked after {LOCK_WAIT:?}",
                    path.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: unlocks the descriptor this value owns (closing it would too).
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The bytes of `path` if it is a regular file of ours, of at most `max` bytes; `None` if it
/// is absent; `Err` if it is there but must not be used.
fn read_ours(path: &Path, max: usize) -> Result<Option<Vec<u8>>, String> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    check_ours(&meta).map_err(|e| format!("{} {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    // Too large to be ours: ignored, and replaced by the next write.
    Ok((bytes.len() <= max).then_some(bytes))
}

/// Writes `bytes` to `path` atomically: a new temporary file (0600) in the same directory,
/// renamed over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    let written = file.write_all(bytes).and_then(|()| file.flush());
    drop(file);
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(format!("{}: {e}", path.display()));
    }
    Ok(())
}

/// What went wrong with the cache, for the module's log: one line per login at most.
pub type Complaint<'a> = &'a dyn Fn(&str);

/// The key cache in files.
pub struct FileKeyStore<'a> {
    pub dir: Option<CacheDir>,
    pub complain: Complaint<'a>,
}

struct FileSlot {
    record: KeyRecord,
}

impl KeySlot for FileSlot {
    fn state(&mut self) -> &mut IssuerCacheState {
        &mut self.record.state
    }
    fn data(&self) -> (Vec<u8>, Vec<u8>) {
        (self.record.meta.clone(), self.record.jwks.clone())
    }
    fn store(&mut self, meta: &[u8], jwks: &[u8]) -> bool {
        if meta.len() > META_MAX || jwks.len() > JWKS_MAX {
            return false;
        }
        self.record.meta = meta.to_vec();
        self.record.jwks = jwks.to_vec();
        true
    }
    fn set_error(&mut self, error: Option<&str>) {
        let mut text = error.unwrap_or("").to_owned();
        let mut len = text.len().min(ERROR_MAX);
        while !text.is_char_boundary(len) {
            len -= 1;
        }
        text.truncate(len);
        self.record.error = text;
    }
}

impl KeyStore for FileKeyStore<'_> {
    fn max_name_len(&self) -> usize {
        NAME_MAX
    }

    fn visit(
        &self,
        name: &str,
        _now_ms: i64,
        claim: bool,
        f: &mut dyn FnMut(&mut dyn KeySlot),
    ) -> bool {
        let Some(dir) = &self.dir else {
            // No cache: a slot of this login's own, as if every other login had never been.
            let mut slot = FileSlot {
                record: KeyRecord {
                    name: name.to_owned(),
                    ..KeyRecord::default()
                },
            };
            f(&mut slot);
            return true;
        };
        let stem = format!("keys-{}", hex(&request_budget::budget_key(name), 16));
        let path = dir.file(&stem);
        let _lock = match Locked::take(&dir.file(&format!("{stem}.lock"))) {
            Ok(lock) => lock,
            Err(e) => {
                (self.complain)(&format!("key cache not used: {e}"));
                return FileKeyStore {
                    dir: None,
                    complain: self.complain,
                }
                .visit(name, 0, claim, f);
            }
        };
        let stored = match read_ours(&path, KEY_FILE_MAX) {
            Ok(bytes) => bytes.and_then(|b| KeyRecord::decode(&b, name, &LIMITS)),
            Err(e) => {
                (self.complain)(&format!("key cache not used: {e}"));
                drop(_lock);
                return FileKeyStore {
                    dir: None,
                    complain: self.complain,
                }
                .visit(name, 0, claim, f);
            }
        };
        let (record, found) = match stored {
            Some(r) => (r, true),
            None => (
                KeyRecord {
                    name: name.to_owned(),
                    ..KeyRecord::default()
                },
                false,
            ),
        };
        if !found && !claim {
            return false;
        }
        let before = record.clone();
        let mut slot = FileSlot { record };
        f(&mut slot);
        if slot.record != before || !found {
            if let Err(e) = write_atomically(&path, &slot.record.encode()) {
                (self.complain)(&format!("key cache not written: {e}"));
            }
        }
        true
    }
}

/// The result cache in files: one per answer, named by its key's hash.
pub struct FileResultStore<'a> {
    pub dir: Option<CacheDir>,
    /// The longest an answer may be kept (`result_cache_ttl`, or `negative_cache_ttl` if
    /// longer): a file that claims more is not used.
    pub max_ttl_ms: i64,
    pub complain: Complaint<'a>,
}

impl FileResultStore<'_> {
    fn path(dir: &CacheDir, key: &[u8; 32]) -> PathBuf {
        dir.file(&format!("result-{}", hex(key, 32)))
    }

    /// Removes expired and unreadable answers; the number of live ones left.
    fn sweep(&self, dir: &CacheDir, now_ms: i64) -> usize {
        let Ok(entries) = fs::read_dir(&dir.path) else {
            return usize::MAX;
        };
        let mut live = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(hexkey) = name.strip_prefix("result-") else {
                continue;
            };
            if hexkey.len() != 64 || hexkey.contains('.') {
                continue;
            }
            let keep = read_ours(&entry.path(), RESULT_FILE_MAX)
                .ok()
                .flatten()
                .and_then(|b| {
                    let mut key = [0u8; 32];
                    for (i, k) in key.iter_mut().enumerate() {
                        *k = u8::from_str_radix(hexkey.get(i * 2..i * 2 + 2)?, 16).ok()?;
                    }
                    ResultRecord::decode(&b, &key, MAX_CACHED_BODY)
                })
                .is_some_and(|r| r.live(now_ms, self.max_ttl_ms));
            if keep {
                live += 1;
            } else {
                let _ = fs::remove_file(entry.path());
            }
        }
        live
    }
}

impl ResultStore for FileResultStore<'_> {
    fn lookup(&self, key: &[u8; 32], now_ms: i64) -> Option<(EntryKind, Vec<u8>)> {
        let dir = self.dir.as_ref()?;
        let bytes = match read_ours(&Self::path(dir, key), RESULT_FILE_MAX) {
            Ok(bytes) => bytes?,
            Err(e) => {
                (self.complain)(&format!("result cache not used: {e}"));
                return None;
            }
        };
        let record = ResultRecord::decode(&bytes, key, MAX_CACHED_BODY)?;
        record
            .live(now_ms, self.max_ttl_ms)
            .then_some((record.kind, record.body))
    }

    fn insert(
        &self,
        key: &[u8; 32],
        kind: EntryKind,
        body: &[u8],
        now_ms: i64,
        ttl_ms: i64,
        _tag: &Tag,
    ) {
        let Some(dir) = &self.dir else { return };
        if ttl_ms <= 0 || body.len() > MAX_CACHED_BODY {
            return;
        }
        let count = fs::read_dir(&dir.path).map_or(usize::MAX, |d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.starts_with("result-"))
                })
                .count()
        });
        if count >= RESULTS_MAX && self.sweep(dir, now_ms) >= RESULTS_MAX {
            return;
        }
        let record = ResultRecord {
            key: *key,
            kind,
            expires_at_ms: now_ms.saturating_add(ttl_ms),
            body: body.to_vec(),
        };
        if let Err(e) = write_atomically(&Self::path(dir, key), &record.encode()) {
            (self.complain)(&format!("result cache not written: {e}"));
        }
    }

    fn take_budget(&self, key: &[u8; 32], now_ms: i64, policy: BudgetPolicy) -> bool {
        let Some(dir) = &self.dir else {
            // Without the cache every login is a stranger: bounded per process only.
            let mut table = vec![RequestBudget::default(); 1];
            return request_budget::try_take(&mut table, key, now_ms, policy);
        };
        let path = dir.file("budgets");
        let Ok(_lock) = Locked::take(&dir.file("budgets.lock")) else {
            return true;
        };
        let mut table = read_ours(&path, 16 + BUDGETS * RequestBudget::ENCODED_LEN + 64)
            .ok()
            .flatten()
            .and_then(|b| decode_budgets(&b, BUDGETS))
            .unwrap_or_else(|| vec![RequestBudget::default(); BUDGETS]);
        let allowed = request_budget::try_take(&mut table, key, now_ms, policy);
        if let Err(e) = write_atomically(&path, &encode_budgets(&table)) {
            (self.complain)(&format!("budget not written: {e}"));
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pam_bearer-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_directory_is_created_0700_and_a_loose_one_is_refused() {
        let path = scratch("mode");
        let dir = CacheDir::open(&path).unwrap();
        assert_eq!(fs::metadata(&dir.path).unwrap().mode() & 0o777, 0o700);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(CacheDir::open(&path)
            .unwrap_err()
            .contains("group or others can write"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
        let link = scratch("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(CacheDir::open(&link)
            .unwrap_err()
            .contains("not a directory"));
        let _ = fs::remove_file(&link);
        let _ = fs::remove_dir_all(&path);
    }

    fn visit(store: &FileKeyStore<'_>, f: impl FnOnce(&mut dyn KeySlot)) -> bool {
        let mut f = Some(f);
        store.visit("https://idp\nsrc\nca=", 0, true, &mut |slot| {
            if let Some(f) = f.take() {
                f(slot)
            }
        })
    }

    #[test]
    fn a_slot_written_by_one_login_is_read_by_the_next_and_a_corrupt_one_replaced() {
        let path = scratch("slot");
        let complaints = RefCell::new(Vec::new());
        let complain = |s: &str| complaints.borrow_mut().push(s.to_owned());
        let store = FileKeyStore {
            dir: Some(CacheDir::open(&path).unwrap()),
            complain: &complain,
        };
        assert!(visit(&store, |slot| assert!(slot.store(b"m", b"j"))));
        visit(&store, |slot| {
            assert_eq!(slot.data(), (b"m".to_vec(), b"j".to_vec()))
        });
        // Corrupt every key file: the next login sees an empty slot and writes a good one.
        for e in fs::read_dir(&path).unwrap().flatten() {
            let name = e.file_name().into_string().unwrap();
            if name.starts_with("keys-") && !name.ends_with(".lock") {
                let mut bytes = fs::read(e.path()).unwrap();
                bytes[20] ^= 0xff;
                fs::write(e.path(), bytes).unwrap();
            }
        }
        visit(&store, |slot| {
            assert_eq!(slot.data(), (vec![], vec![]));
            slot.store(b"m2", b"j2");
        });
        visit(&store, |slot| {
            assert_eq!(slot.data(), (b"m2".to_vec(), b"j2".to_vec()))
        });
        assert!(complaints.borrow().is_empty(), "{:?}", complaints.borrow());
        let _ = fs::remove_dir_all(&path);
    }

    #[test]
    fn a_file_someone_else_can_write_is_not_used() {
        let path = scratch("loose");
        let complaints = RefCell::new(Vec::new());
        let complain = |s: &str| complaints.borrow_mut().push(s.to_owned());
        let store = FileKeyStore {
            dir: Some(CacheDir::open(&path).unwrap()),
            complain: &complain,
        };
        visit(&store, |slot| {
            slot.store(b"m", b"j");
        });
        for e in fs::read_dir(&path).unwrap().flatten() {
            fs::set_permissions(e.path(), fs::Permissions::from_mode(0o666)).unwrap();
        }
        visit(&store, |slot| assert_eq!(slot.data(), (vec![], vec![])));
        assert!(complaints
            .borrow()
            .iter()
            .any(|c| c.contains("group or others can write")));
        let _ = fs::remove_dir_all(&path);
    }

    #[test]
    fn results_are_kept_until_their_ttl_and_never_past_the_maximum() {
        let path = scratch("results");
        let complain = |_: &str| {};
        let store = FileResultStore {
            dir: Some(CacheDir::open(&path).unwrap()),
            max_ttl_ms: 60_000,
            complain: &complain,
        };
        let tag = Tag::new("https://idp", "token");
        store.insert(
            &[1; 32],
            EntryKind::Introspection,
            b"{}",
            1_000,
            5_000,
            &tag,
        );
        assert_eq!(
            store.lookup(&[1; 32], 5_999),
            Some((EntryKind::Introspection, b"{}".to_vec()))
        );
        assert_eq!(store.lookup(&[1; 32], 6_000), None);
        assert_eq!(store.lookup(&[2; 32], 1_000), None);
        // A file claiming more than the maximum (a forged one, or a stepped-back clock).
        store.insert(
            &[3; 32],
            EntryKind::Introspection,
            b"{}",
            1_000,
            3_600_000,
            &tag,
        );
        assert_eq!(store.lookup(&[3; 32], 1_001), None);
        let _ = fs::remove_dir_all(&path);
    }

    struct TestHost;

    impl pg_bearer_provider::Host for TestHost {
        fn warning(&self, _line: &str) {}
        fn owner_alive(&self, pid: std::num::NonZeroI32) -> bool {
            process_alive(pid)
        }
    }

    #[test]
    fn a_refresh_whose_owner_died_is_taken_over_instead_of_waited_for() {
        use pg_bearer_core::cache::{LookupDecision, Need};
        use pg_bearer_core::discovery::IssuerTarget;
        use pg_bearer_core::jwks::KeyFilter;
        use pg_bearer_provider::{keys, Provider, ProviderSettings};

        let path = scratch("dead-owner");
        let dir = CacheDir::open(&path).unwrap();
        // A static key file (RFC 8037's Ed25519 example key): no network.
        let jwks = path.join("jwks.json");
        fs::write(
            &jwks,
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1","alg":"EdDSA","use":"sig"}]}"#,
        )
        .unwrap();
        let key_source = jwks.to_string_lossy().into_owned();
        let settings = ProviderSettings {
            http_timeout: Duration::from_secs(2),
            ca_file: String::new(),
            allow_http: false,
            result_cache_ttl: Duration::from_secs(60),
            negative_cache_ttl: Duration::from_secs(5),
            unknown_token_budget: BudgetPolicy {
                rate: 10,
                burst: 50,
            },
            cache_min: 60,
            cache_max: 86_400,
            cache_default: 600,
            cache_grace: Duration::from_secs(3_600),
            unknown_kid_cooldown: Duration::from_secs(30),
        };
        let target = IssuerTarget::from_hba("https://idp.example", false).unwrap();
        let name = format!(
            "{}\n{key_source}\n{}",
            target.issuer(),
            settings.transport_tag()
        );
        // A process that has exited: its PID names nobody now.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = std::num::NonZeroI32::new(child.id() as i32).unwrap();
        child.wait().unwrap();
        assert!(!process_alive(dead));
        // It was granted the refresh, and died holding it.
        let policy = keys::cache_policy(&settings).unwrap();
        let now = pg_bearer_provider::clock::now_ms();
        let mut state = IssuerCacheState::default();
        assert!(matches!(
            state.on_lookup(now, Need::Fresh, &policy, dead),
            LookupDecision::Refresh(_)
        ));
        let stem = format!("keys-{}", hex(&request_budget::budget_key(&name), 16));
        let record = KeyRecord {
            state,
            name: name.clone(),
            ..KeyRecord::default()
        };
        write_atomically(&dir.file(&stem), &record.encode()).unwrap();

        let complain = |_: &str| {};
        let store = FileKeyStore {
            dir: Some(dir),
            complain: &complain,
        };
        let results = FileResultStore {
            dir: None,
            max_ttl_ms: 60_000,
            complain: &complain,
        };
        let provider = Provider {
            settings: &settings,
            host: &TestHost,
            keys: &store,
            results: &results,
        };
        // Without the check this login would wait for the dead owner, then give up.
        let got = keys::keys(
            &target,
            &key_source,
            Need::Fresh,
            provider,
            Some(KeyFilter::All),
        )
        .unwrap_or_else(|e| panic!("{}: {}", e.reason, e.detail));
        assert!(got.set.contains_kid("k1"));
        let _ = fs::remove_dir_all(&path);
    }

    #[test]
    fn the_unknown_token_budget_is_shared_through_its_file() {
        let path = scratch("budget");
        let complain = |_: &str| {};
        let dir = CacheDir::open(&path).unwrap();
        let policy = BudgetPolicy { rate: 1, burst: 2 };
        let takes = (0..3)
            .map(|_| {
                // A new store per take, as a new login process would make.
                FileResultStore {
                    dir: Some(dir.clone()),
                    max_ttl_ms: 60_000,
                    complain: &complain,
                }
                .take_budget(&[9; 32], 1_000, policy)
            })
            .collect::<Vec<_>>();
        assert_eq!(takes, vec![true, true, false]);
        let _ = fs::remove_dir_all(&path);
    }
}
