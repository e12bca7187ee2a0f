//! Just enough HTTP/1.1 for the mock provider: read one request, write one response, close.

use std::fmt;
use std::io::{self, Read};

/// The most header bytes a request may have before the provider gives up on it.
const MAX_HEAD: usize = 64 * 1024;
/// The most body bytes the provider reads (introspection and token requests are small).
const MAX_BODY: usize = 1024 * 1024;

/// A request as the provider received it. Kept in memory for assertions (for example that an
/// introspection call carried client authentication). It may hold a token or a client
/// secret, so its `Debug` form shows only the method, path, header names and body length.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The path of the request target, without the query.
    pub path: String,
    /// The query (after `?`), if any.
    pub query: Option<String>,
    /// Header fields in arrival order; names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (at most 1 MiB is read).
    pub body: Vec<u8>,
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query_len", &self.query.as_ref().map(String::len))
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl RecordedRequest {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request head and its `Content-Length` body (a chunked request body is not
/// decoded and is recorded as empty). `Ok(None)` when the client closed
/// the connection before sending a complete head; `InvalidData` when the bytes are not an
/// HTTP/1.x request or the head exceeds 64 KiB.
pub(crate) fn read_request(stream: &mut impl Read) -> io::Result<Option<RecordedRequest>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            break at;
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        // A request line starts with a method token; anything else (a TLS ClientHello sent to
        // the plain-HTTP port, say) is refused at once rather than waited on.
        if !buf[0].is_ascii_uppercase() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an HTTP request",
            ));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let content_length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_BODY);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < content_length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(content_length);
    Ok(Some(RecordedRequest {
        method,
        path,
        query,
        headers,
        body,
    }))
}

/// The value of the first `name` parameter of an `application/x-www-form-urlencoded` body,
/// decoded (`+` is a space, `%XX` a byte); `None` if absent or not UTF-8 once decoded.
pub(crate) fn form_value(body: &[u8], name: &str) -> Option<String> {
    body.split(|&b| b == b'&').find_map(|pair| {
        let (n, v) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &b""[..]),
        };
        (form_decode(n)? == name).then(|| form_decode(v)).flatten()
    })
}

fn form_decode(bytes: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The reason phrase for the status codes the provider sends.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// A response head: status line, the given header fields, `Connection: close`, and
/// `Content-Length` when `content_length` is `Some`.
pub(crate) fn head(
    status: u16,
    headers: &[(&str, &str)],
    content_length: Option<usize>,
) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(len) = content_length {
        out.push_str(&format!("Content-Length: {len}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

/// A whole response with a body and a `Content-Length`.
pub(crate) fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = head(status, headers, Some(body.len()));
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_head_query_headers_and_body() {
        let raw = b"POST /introspect?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nAuthorization: Basic Zm9v\r\n\r\nhello";
        let req = read_request(&mut &raw[..]).unwrap().unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/introspect");
        assert_eq!(req.query.as_deref(), Some("x=1"));
        assert_eq!(req.header("AUTHORIZATION"), Some("Basic Zm9v"));
        assert_eq!(req.body, b"hello");
        let shown = format!("{req:?}");
        assert!(
            !shown.contains("Zm9v") && !shown.contains("hello"),
            "{shown}"
        );
    }

    #[test]
    fn tls_client_hello_is_not_a_request() {
        let raw = [0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01];
        let err = read_request(&mut &raw[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn form_values_are_found_by_name_and_decoded() {
        let body = b"token_type_hint=access_token&token=a%2Bb+c%3D&x";
        assert_eq!(form_value(body, "token").as_deref(), Some("a+b c="));
        assert_eq!(
            form_value(body, "token_type_hint").as_deref(),
            Some("access_token")
        );
        assert_eq!(form_value(body, "x").as_deref(), Some(""));
        assert_eq!(form_value(body, "tok"), None);
        assert_eq!(form_value(b"token=%zz", "token"), None);
    }

    #[test]
    fn incomplete_head_reads_as_closed() {
        let raw = b"GET /jwks HTTP/1.1\r\nHost: a\r\n";
        assert!(read_request(&mut &raw[..]).unwrap().is_none());
    }
}
