//! A minimal PostgreSQL protocol 3.0 client for the benchmark: startup, then either nothing
//! (trust) or one SASL `OAUTHBEARER` initial response carrying the token (RFC 7628 §3.1), then
//! `AuthenticationOk` ... `ReadyForQuery`, then `Terminate`. One TCP connection per login: this
//! is the cheapest client that can log in with a token, so the difference between it on a
//! `trust` line and on an `oauth` line is the server's cost of OAuth.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One open session, after `ReadyForQuery`.
pub struct Session {
    stream: TcpStream,
    /// The backend's PID (from `BackendKeyData`).
    pub pid: i32,
}

impl Session {
    /// Sends `Terminate` and closes.
    pub fn terminate(mut self) {
        let _ = self.stream.write_all(&[b'X', 0, 0, 0, 4]);
    }
}

/// Logs in as `user` to database `postgres`. With `token`, answers the server's SASL request
/// with `OAUTHBEARER` and the token at once; without, expects no authentication request
/// (trust). `Err` carries the server's error message, never the token.
pub fn login(addr: SocketAddr, user: &str, token: Option<&str>) -> Result<Session, String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    writer
        .write_all(&startup(user))
        .map_err(|e| format!("send startup: {e}"))?;
    let mut reader = BufReader::with_capacity(8192, stream);
    let mut pid = 0;
    loop {
        let (kind, body) = read_message(&mut reader)?;
        match kind {
            b'R' => {
                let code = be_i32(&body, 0)?;
                match code {
                    0 => {}
                    10 => {
                        let token =
                            token.ok_or("the server asked for SASL but no token was given")?;
                        if !sasl_mechanisms(&body[4..]).any(|m| m == b"OAUTHBEARER") {
                            return Err("the server does not offer OAUTHBEARER".into());
                        }
                        writer
                            .write_all(&oauthbearer_initial_response(token))
                            .map_err(|e| format!("send token: {e}"))?;
                    }
                    11 | 12 => {} // SASLContinue / SASLFinal: not sent by OAUTHBEARER on success
                    other => return Err(format!("unexpected authentication request {other}")),
                }
            }
            b'K' => pid = be_i32(&body, 0)?,
            b'Z' => {
                return Ok(Session {
                    stream: reader.into_inner(),
                    pid,
                })
            }
            b'E' => return Err(error_message(&body)),
            // ParameterStatus, NoticeResponse, NegotiateProtocolVersion: nothing to do.
            _ => {}
        }
    }
}

fn startup(user: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(64);
    body.extend_from_slice(&196_608i32.to_be_bytes()); // protocol 3.0
    for (k, v) in [("user", user), ("database", "postgres")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    msg
}

/// `SASLInitialResponse` for `OAUTHBEARER`: gs2 header `n,,`, then `auth=Bearer <token>`.
fn oauthbearer_initial_response(token: &str) -> Vec<u8> {
    let data = format!("n,,\x01auth=Bearer {token}\x01\x01");
    let mechanism = b"OAUTHBEARER\0";
    let len = 4 + mechanism.len() + 4 + data.len();
    let mut msg = Vec::with_capacity(1 + len);
    msg.push(b'p');
    msg.extend_from_slice(&(len as i32).to_be_bytes());
    msg.extend_from_slice(mechanism);
    msg.extend_from_slice(&(data.len() as i32).to_be_bytes());
    msg.extend_from_slice(data.as_bytes());
    msg
}

fn sasl_mechanisms(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&b| b == 0).take_while(|m| !m.is_empty())
}

fn read_message(reader: &mut impl Read) -> Result<(u8, Vec<u8>), String> {
    let mut header = [0u8; 5];
    reader
        .read_exact(&mut header)
        .map_err(|e| format!("read: {e}"))?;
    let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if !(4..=1 << 20).contains(&len) {
        return Err(format!("bad message length {len}"));
    }
    let mut body = vec![0u8; len as usize - 4];
    reader
        .read_exact(&mut body)
        .map_err(|e| format!("read: {e}"))?;
    Ok((header[0], body))
}

fn be_i32(body: &[u8], at: usize) -> Result<i32, String> {
    body.get(at..at + 4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| "short message".to_string())
}

/// The `M` (message) field of an `ErrorResponse`, with its severity.
fn error_message(body: &[u8]) -> String {
    let mut severity = "";
    let mut message = "";
    for field in body.split(|&b| b == 0) {
        if let Some((&code, text)) = field.split_first() {
            let text = std::str::from_utf8(text).unwrap_or("?");
            match code {
                b'S' => severity = text,
                b'M' => message = text,
                _ => {}
            }
        }
    }
    format!("{severity}:  {message}")
}
