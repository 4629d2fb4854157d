//! A client of corrald's control API (docs/api.md): one request per connection over
//! the unix socket, the response head parsed with httparse.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to corrald at {path}: {source} (is corrald running? see --socket)")]
    Connect { path: PathBuf, source: io::Error },
    #[error("talking to corrald: {0}")]
    Io(#[from] io::Error),
    #[error("corrald sent a malformed response: {0}")]
    Malformed(String),
    /// corrald answered with an error status; `body` is its JSON, if it was JSON.
    #[error("{message}")]
    Status { status: u16, message: String, body: Option<Value> },
}

/// A complete response with a success status.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Result<Value, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Malformed(format!("body is not JSON: {e}")))
    }
}

pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: &Path) -> Client {
        Client { socket: socket.to_owned() }
    }

    pub fn get(&self, path: &str) -> Result<Response, ClientError> {
        self.request("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Result<Response, ClientError> {
        self.request("POST", path, Some(body))
    }

    /// Sends a request and reads the whole answer; an error status is an error.
    pub fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Response, ClientError> {
        let mut body_bytes = Vec::new();
        let status = self.stream(method, path, body, &mut |chunk| {
            body_bytes.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(Response { status, body: body_bytes })
    }

    /// Sends a request and hands the body to `sink` as it arrives (for `follow=1`
    /// streams, until corrald closes). Returns the status; an error status is returned
    /// as `ClientError::Status` with the body read whole.
    pub fn stream(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<u16, ClientError> {
        let mut stream =
            UnixStream::connect(&self.socket).map_err(|source| ClientError::Connect { path: self.socket.clone(), source })?;
        let body = body.unwrap_or_default();
        let head = format!("{method} {path} HTTP/1.1\r\nHost: corrald\r\nContent-Length: {}\r\n\r\n", body.len());
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let (head, rest) = read_head(&mut stream)?;
        if !(200..300).contains(&head.status) {
            let mut all = rest;
            stream.read_to_end(&mut all)?;
            return Err(status_error(head.status, &all));
        }
        copy_body(&mut stream, head.content_length, rest, sink)?;
        Ok(head.status)
    }
}

struct Head {
    status: u16,
    /// None: the body runs until the connection closes.
    content_length: Option<usize>,
}

/// Reads until the response head is complete; returns it and the body bytes read with it.
fn read_head(stream: &mut UnixStream) -> Result<(Head, Vec<u8>), ClientError> {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            return Err(ClientError::Malformed("connection closed before a complete response head".into()));
        }
        bytes.extend_from_slice(&buffer[..n]);
        if let Some((head, length)) = parse_head(&bytes)? {
            return Ok((head, bytes.split_off(length)));
        }
        if bytes.len() > MAX_HEAD {
            return Err(ClientError::Malformed("response head too large".into()));
        }
    }
}

/// The head and its length in bytes, once complete.
fn parse_head(bytes: &[u8]) -> Result<Option<(Head, usize)>, ClientError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(bytes) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(ClientError::Malformed(error.to_string())),
    };
    let status = response.code.ok_or_else(|| ClientError::Malformed("no status code".into()))?;
    let content_length = response
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("content-length"))
        .map(|header| {
            let text = std::str::from_utf8(header.value).unwrap_or("");
            text.trim().parse::<usize>().map_err(|_| ClientError::Malformed("bad Content-Length".into()))
        })
        .transpose()?;
    Ok(Some((Head { status, content_length }, length)))
}

fn copy_body(
    stream: &mut UnixStream,
    length: Option<usize>,
    first: Vec<u8>,
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> Result<(), ClientError> {
    let mut remaining = length.map(|length| length.saturating_sub(first.len()));
    sink(&first)?;
    let mut buffer = vec![0u8; 64 * 1024];
    while remaining != Some(0) {
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            if remaining.is_some() {
                return Err(ClientError::Malformed("connection closed in the middle of the body".into()));
            }
            break;
        }
        let n = remaining.map_or(n, |left| n.min(left));
        remaining = remaining.map(|left| left - n);
        sink(&buffer[..n])?;
    }
    Ok(())
}

/// An error status: its JSON body's "error" as the message.
fn status_error(status: u16, body: &[u8]) -> ClientError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let message = json
        .as_ref()
        .and_then(|value| value["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("corrald answered {status}: {}", String::from_utf8_lossy(body).trim()));
    ClientError::Status { status, message, body: json }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none());
        let (head, length) = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap().unwrap();
        assert_eq!((head.status, head.content_length, length), (200, Some(2), 38));
        let (head, _) = parse_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n").unwrap().unwrap();
        assert_eq!(head.content_length, None);
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
    }

    #[test]
    fn error_statuses_carry_the_message() {
        match status_error(404, br#"{"error": "no such service: x"}"#) {
            ClientError::Status { status: 404, message, .. } => assert_eq!(message, "no such service: x"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn talks_to_a_server_over_a_socket() {
        let path = std::env::temp_dir().join(format!("corral-client-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let n = conn.read(&mut request).unwrap();
            assert!(request[..n].starts_with(b"GET /v1/events?follow=1 HTTP/1.1\r\n"));
            conn.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nline 1\n").unwrap();
            conn.write_all(b"line 2\n").unwrap();
        });
        let mut got = Vec::new();
        let status = Client::new(&path)
            .stream("GET", "/v1/events?follow=1", None, &mut |chunk| {
                got.extend_from_slice(chunk);
                Ok(())
            })
            .unwrap();
        server.join().unwrap();
        assert_eq!((status, got.as_slice()), (200, b"line 1\nline 2\n".as_slice()));
        std::fs::remove_file(&path).unwrap();
    }
}
