//! A small client over libpq's C API (the libpq of the PostgreSQL 18 under test).
//!
//! Bearer tokens reach libpq through `PQsetAuthDataHook` with `PQAUTHDATA_OAUTH_BEARER_TOKEN`,
//! the API an application uses for non-interactive OAuth logins. The hook is process-wide, so
//! the token for a connection attempt is kept in a thread-local: libpq calls the hook on the
//! thread that runs `PQconnectdb`.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Once;

#[repr(C)]
struct PGconn {
    _private: [u8; 0],
}
#[repr(C)]
struct PGresult {
    _private: [u8; 0],
}

/// `PGoauthBearerRequest` from libpq-fe.h (PostgreSQL 18).
#[repr(C)]
struct PGoauthBearerRequest {
    openid_configuration: *const c_char,
    scope: *const c_char,
    async_:
        Option<unsafe extern "C" fn(*mut PGconn, *mut PGoauthBearerRequest, *mut c_int) -> c_int>,
    cleanup: Option<unsafe extern "C" fn(*mut PGconn, *mut PGoauthBearerRequest)>,
    token: *mut c_char,
    user: *mut c_void,
}

type AuthDataHook = unsafe extern "C" fn(c_int, *mut PGconn, *mut c_void) -> c_int;

extern "C" {
    fn PQconnectdb(conninfo: *const c_char) -> *mut PGconn;
    fn PQstatus(conn: *const PGconn) -> c_int;
    fn PQerrorMessage(conn: *const PGconn) -> *const c_char;
    fn PQfinish(conn: *mut PGconn);
    fn PQexec(conn: *mut PGconn, query: *const c_char) -> *mut PGresult;
    fn PQresultStatus(res: *const PGresult) -> c_int;
    fn PQresultErrorMessage(res: *const PGresult) -> *const c_char;
    fn PQntuples(res: *const PGresult) -> c_int;
    fn PQgetisnull(res: *const PGresult, row: c_int, col: c_int) -> c_int;
    fn PQgetvalue(res: *const PGresult, row: c_int, col: c_int) -> *const c_char;
    fn PQclear(res: *mut PGresult);
    fn PQsetAuthDataHook(hook: Option<AuthDataHook>);
    fn PQdefaultAuthDataHook(kind: c_int, conn: *mut PGconn, data: *mut c_void) -> c_int;
}

const CONNECTION_OK: c_int = 0;
const PGRES_COMMAND_OK: c_int = 1;
const PGRES_TUPLES_OK: c_int = 2;
/// `PGauthData` value `PQAUTHDATA_OAUTH_BEARER_TOKEN` (the second enumerator).
const PQAUTHDATA_OAUTH_BEARER_TOKEN: c_int = 1;

thread_local! {
    static BEARER: RefCell<Option<CString>> = const { RefCell::new(None) };
}

// How many times libpq asked this thread for a token (one per connection that sent one).
thread_local! {
    static TOKEN_REQUESTS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

unsafe extern "C" fn free_token(_conn: *mut PGconn, request: *mut PGoauthBearerRequest) {
    // SAFETY: libpq passes back the request whose token we set from CString::into_raw.
    let request = unsafe { &mut *request };
    if !request.token.is_null() {
        // SAFETY: the pointer came from CString::into_raw in auth_data_hook and is freed once.
        drop(unsafe { CString::from_raw(request.token) });
        request.token = std::ptr::null_mut();
    }
}

unsafe extern "C" fn auth_data_hook(kind: c_int, conn: *mut PGconn, data: *mut c_void) -> c_int {
    if kind == PQAUTHDATA_OAUTH_BEARER_TOKEN {
        if let Some(token) = BEARER.with(|b| b.borrow().clone()) {
            TOKEN_REQUESTS.with(|n| n.set(n.get() + 1));
            // SAFETY: for this kind, data points to a PGoauthBearerRequest (libpq-fe.h).
            let request = unsafe { &mut *data.cast::<PGoauthBearerRequest>() };
            request.token = token.into_raw();
            request.cleanup = Some(free_token);
            return 1;
        }
    }
    // SAFETY: forwarding the arguments libpq gave us to its own default hook.
    unsafe { PQdefaultAuthDataHook(kind, conn, data) }
}

fn install_hook() {
    static ONCE: Once = Once::new();
    // SAFETY: PQsetAuthDataHook only stores the function pointer.
    ONCE.call_once(|| unsafe { PQsetAuthDataHook(Some(auth_data_hook)) });
}

/// An open connection.
pub struct Session {
    conn: *mut PGconn,
}

impl Session {
    /// Connects with `conninfo`, giving libpq `bearer` if the server asks for a token.
    pub fn connect(conninfo: &str, bearer: Option<&str>) -> Result<Session, String> {
        Self::connect_counted(conninfo, bearer).0
    }

    /// Like [`Session::connect`], also counting libpq's token requests.
    pub fn connect_counted(conninfo: &str, bearer: Option<&str>) -> (Result<Session, String>, u32) {
        install_hook();
        let presents_token = bearer.is_some();
        if let Some(token) = bearer {
            crate::suite::record_secret(token);
        }
        let conninfo = CString::new(conninfo).expect("conninfo without NUL");
        let bearer = bearer.map(|t| CString::new(t).expect("token without NUL"));
        BEARER.with(|b| *b.borrow_mut() = bearer);
        TOKEN_REQUESTS.with(|n| n.set(0));
        // SAFETY: conninfo is a valid C string; PQconnectdb always returns a handle (or NULL
        // on out-of-memory) that PQfinish releases.
        let conn = unsafe { PQconnectdb(conninfo.as_ptr()) };
        BEARER.with(|b| *b.borrow_mut() = None);
        let requests = TOKEN_REQUESTS.with(|n| n.get());
        if conn.is_null() {
            return (Err("PQconnectdb returned NULL".into()), requests);
        }
        let session = Session { conn };
        // SAFETY: conn is a live handle.
        if unsafe { PQstatus(conn) } != CONNECTION_OK {
            // SAFETY: conn is live; the message is copied before PQfinish (in Drop).
            let msg = unsafe { CStr::from_ptr(PQerrorMessage(conn)) }
                .to_string_lossy()
                .into_owned();
            let msg = msg.trim_end().to_owned();
            if presents_token {
                crate::suite::record_client_error(&msg);
            }
            return (Err(msg), requests);
        }
        (Ok(session), requests)
    }

    /// Runs `sql` and returns the first column of the first row (NULL as `None`).
    pub fn query_one(&self, sql: &str) -> Result<Option<String>, String> {
        let rows = self.query(sql)?;
        Ok(rows.into_iter().next().flatten())
    }

    /// Runs `sql` and returns the first column of every row.
    pub fn query(&self, sql: &str) -> Result<Vec<Option<String>>, String> {
        let sql = CString::new(sql).map_err(|e| e.to_string())?;
        // SAFETY: conn is live and sql a valid C string; the result is cleared below.
        unsafe {
            let res = PQexec(self.conn, sql.as_ptr());
            if res.is_null() {
                return Err("PQexec returned NULL".into());
            }
            let status = PQresultStatus(res);
            let out = if status == PGRES_TUPLES_OK {
                Ok((0..PQntuples(res))
                    .map(|row| {
                        (PQgetisnull(res, row, 0) == 0).then(|| {
                            CStr::from_ptr(PQgetvalue(res, row, 0))
                                .to_string_lossy()
                                .into_owned()
                        })
                    })
                    .collect())
            } else if status == PGRES_COMMAND_OK {
                Ok(Vec::new())
            } else if PQstatus(self.conn) != CONNECTION_OK {
                // The connection is gone: everything libpq gathered while this call ran (a
                // FATAL the server sent before closing, then the loss), as psql prints it.
                Err(CStr::from_ptr(PQerrorMessage(self.conn))
                    .to_string_lossy()
                    .trim_end()
                    .to_owned())
            } else {
                Err(CStr::from_ptr(PQresultErrorMessage(res))
                    .to_string_lossy()
                    .trim_end()
                    .to_owned())
            };
            PQclear(res);
            out
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: conn is live and released exactly once.
        unsafe { PQfinish(self.conn) }
    }
}
