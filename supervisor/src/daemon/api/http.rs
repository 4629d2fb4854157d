//! HTTP/1.1 as the control socket speaks it: one request per connection, parsed with
//! httparse and bounded in size; responses written by hand, always `Connection: close`.
//! A streamed answer (`follow=1`) has no Content-Length: its body ends when the
//! connection closes, which HTTP/1.1 allows for responses.

use serde_json::{Value, json};

/// Largest request head (request line and headers).
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest request body (a manifest for /v1/apply).
pub const MAX_BODY: usize = 1 << 20;
const MAX_HEADERS: usize = 32;

/// A complete request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without its query, percent-decoded.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of query parameter `name`, if given.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// Whether a flag parameter is on (`follow=1`, `follow=true`, or bare `follow`).
    pub fn flag(&self, name: &str) -> bool {
        self.param(name).is_some_and(|value| matches!(value, "" | "1" | "true" | "yes"))
    }
}

/// What the bytes received so far amount to.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    Done(Request),
    /// The request is unacceptable; send this and close.
    Refused(Response),
}

/// Parses `bytes` as a request.
pub fn parse(bytes: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(bytes) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Partial) if bytes.len() <= MAX_HEAD => return Parsed::Incomplete,
        Ok(_) => return Parsed::Refused(Response::error(431, "request head larger than 8 KiB")),
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Refused(Response::error(431, format!("more than {MAX_HEADERS} headers")));
        }
        Err(error) => return Parsed::Refused(Response::error(400, format!("malformed request: {error}"))),
    };
    let body_len = match body_length(request.headers) {
        Ok(length) => length,
        Err(response) => return Parsed::Refused(response),
    };
    if bytes.len() < head_len + body_len {
        return Parsed::Incomplete;
    }
    let target = request.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Parsed::Done(Request {
        method: request.method.unwrap_or("").to_owned(),
        path: percent_decode(path),
        query: parse_query(query),
        body: bytes[head_len..head_len + body_len].to_vec(),
    })
}

/// The body's length from Content-Length; chunked request bodies are not accepted.
fn body_length(headers: &[httparse::Header]) -> Result<usize, Response> {
    let mut length = 0;
    for header in headers {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Response::error(411, "send the body with a Content-Length, not chunked"));
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(header.value).unwrap_or("");
            length = text.trim().parse::<usize>().map_err(|_| Response::error(400, "bad Content-Length"))?;
        }
    }
    if length > MAX_BODY {
        return Err(Response::error(413, "request body larger than 1 MiB"));
    }
    Ok(length)
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    let pairs = query.split('&').filter(|pair| !pair.is_empty());
    pairs
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(&key.replace('+', " ")), percent_decode(&value.replace('+', " ")))
        })
        .collect()
}

/// Decodes %XX escapes; a malformed escape is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A complete response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

pub const JSON: &str = "application/json";
pub const JSON_LINES: &str = "application/x-ndjson";
pub const TEXT: &str = "text/plain; charset=utf-8";
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Response {
    pub fn json(status: u16, value: &Value) -> Response {
        let mut body = serde_json::to_vec_pretty(value).expect("a JSON value serialises");
        body.push(b'\n');
        Response { status, content_type: JSON, body }
    }

    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: impl Into<String>) -> Response {
        Response::json(status, &json!({ "error": message.into() }))
    }

    pub fn text(content_type: &'static str, body: Vec<u8>) -> Response {
        Response { status: 200, content_type, body }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// The head of a streamed 200 answer: the body runs until the connection closes.
pub fn stream_head(content_type: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(bytes: &[u8]) -> Request {
        match parse(bytes) {
            Parsed::Done(request) => request,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_path_query_and_body() {
        let request = done(b"GET /v1/services/web/logs?tail=5&follow=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((request.method.as_str(), request.path.as_str()), ("GET", "/v1/services/web/logs"));
        assert_eq!(request.param("tail"), Some("5"));
        assert!(request.flag("follow"));
        assert!(!request.flag("other"));
        let request = done(b"POST /v1/apply HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcdef");
        assert_eq!(request.body, b"abc");
    }

    #[test]
    fn waits_for_the_whole_request() {
        assert_eq!(parse(b"GET /v1/services HTTP/1.1\r\nHost"), Parsed::Incomplete);
        assert_eq!(parse(b"POST /v1/apply HTTP/1.1\r\nContent-Length: 3\r\n\r\nab"), Parsed::Incomplete);
    }

    #[test]
    fn refuses_oversized_and_malformed_requests() {
        let status = |bytes: &[u8]| match parse(bytes) {
            Parsed::Refused(response) => response.status,
            other => panic!("{other:?}"),
        };
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(status(long.as_bytes()), 431);
        assert_eq!(status(b"POST /v1/apply HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"), 413);
        assert_eq!(status(b"POST /v1/apply HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 411);
        assert_eq!(status(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
        assert_eq!(status(b"\x01\x02 nonsense\r\n\r\n"), 400);
    }

    #[test]
    fn decodes_escapes() {
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(parse_query("x=a+b&y"), [("x".into(), "a b".into()), ("y".into(), String::new())]);
    }

    #[test]
    fn writes_a_response() {
        let text = String::from_utf8(Response::error(404, "no such service").to_bytes()).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"), "{text}");
        assert!(text.contains("Content-Length: "), "{text}");
        assert!(text.ends_with("\"error\": \"no such service\"\n}\n"), "{text}");
    }
}
