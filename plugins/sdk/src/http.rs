//! Outbound HTTP (cargo feature `http`), blocking-style, over the standard
//! `wasi:http/outgoing-handler` (WASI 0.2.12, the version the host implements).
//!
//! The host sends a request only where the manifest's `grants.http.allowed_hosts`
//! allows, within the limits of `limits.http`; a refused request is an
//! [`Error::Http`] (`HttpRequestDenied`, `DestinationIpProhibited`,
//! `ConnectionLimitReached`...), and the mission log says why. Redirects are
//! returned, never followed: follow one with a new request if you want to.
//!
//! ```ignore
//! use mission_plugin_sdk::http::{Request, send};
//! let response = send(&Request::get("https://api.example.com/items"))?;
//! let text = String::from_utf8_lossy(&response.body);
//! ```

use std::fmt;

use wasip2::http::outgoing_handler;
pub use wasip2::http::types::ErrorCode;
use wasip2::http::types::{
    Fields, FutureIncomingResponse, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasip2::io::streams::StreamError;

/// A request to send.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `POST`...
    pub method: String,
    /// `http(s)://host[:port]/path?query`.
    pub url: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A `GET` of `url`.
    pub fn get(url: &str) -> Self {
        Request { method: "GET".into(), url: url.into(), ..Default::default() }
    }

    /// A `POST` of `body` to `url`.
    pub fn post(url: &str, body: impl Into<Vec<u8>>) -> Self {
        Request { method: "POST".into(), url: url.into(), body: Some(body.into()), ..Default::default() }
    }

    /// The same request with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A response, its body read whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why a request failed.
#[derive(Debug, Clone)]
pub enum Error {
    /// The URL is not `http(s)://host[/...]`, or a header is not allowed.
    Invalid(String),
    /// The host's `wasi:http` error code (denied, timed out, body too large...).
    Http(ErrorCode),
    /// The body stream failed for another reason.
    Body(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(m) => write!(f, "invalid request: {m}"),
            // `HttpRequestDenied`, `DestinationIpProhibited`, `HttpResponseBodySize(Some(..))`...
            Error::Http(code) => {
                let name = format!("{code:?}");
                f.write_str(name.strip_prefix("ErrorCode::").unwrap_or(&name))
            }
            Error::Body(m) => write!(f, "body: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Sends `request` and waits for the whole response.
pub fn send(request: &Request) -> Result<Response, Error> {
    start(request)?.wait()
}

/// A request sent, its response not yet read: start several, then
/// [`wait`](Pending::wait) for each, to have them in flight at once.
pub struct Pending(FutureIncomingResponse);

/// Sends `request` (its body included) without waiting for the response.
pub fn start(request: &Request) -> Result<Pending, Error> {
    let (scheme, rest) = request.url.split_once("://").ok_or_else(|| Error::Invalid("no scheme".into()))?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.into()),
    };
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    let path = if path.is_empty() {
        "/".to_owned()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    let entries: Vec<(String, Vec<u8>)> =
        request.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone().into_bytes())).collect();
    let headers = Fields::from_list(&entries).map_err(|e| Error::Invalid(format!("headers: {e:?}")))?;
    let outgoing = OutgoingRequest::new(headers);
    let method = match request.method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.into()),
    };
    let bad = |what: &str| Error::Invalid(what.to_owned());
    outgoing.set_method(&method).map_err(|()| bad("method"))?;
    outgoing.set_scheme(Some(&scheme)).map_err(|()| bad("scheme"))?;
    outgoing.set_authority(Some(authority)).map_err(|()| bad("host"))?;
    outgoing.set_path_with_query(Some(&path)).map_err(|()| bad("path"))?;
    let body = outgoing.body().map_err(|()| bad("body"))?;
    let future = outgoing_handler::handle(outgoing, None).map_err(Error::Http)?;
    if let Some(bytes) = &request.body {
        let stream = body.write().map_err(|()| bad("body"))?;
        for chunk in bytes.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                // The host refused or ended the request: its response says why.
                drop(stream);
                return Ok(Pending(future));
            }
        }
        drop(stream);
    }
    OutgoingBody::finish(body, None).map_err(Error::Http)?;
    Ok(Pending(future))
}

impl Pending {
    /// Waits for the response and reads its body whole.
    pub fn wait(self) -> Result<Response, Error> {
        self.0.subscribe().block();
        let response = match self.0.get() {
            Some(Ok(Ok(r))) => r,
            Some(Ok(Err(code))) => return Err(Error::Http(code)),
            Some(Err(())) | None => return Err(Error::Body("the response was already taken".into())),
        };
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let status = response.status();
        let incoming = response.consume().map_err(|()| Error::Body("no body".into()))?;
        let body = read_all(&incoming)?;
        drop(incoming);
        Ok(Response { status, headers, body })
    }
}

fn read_all(incoming: &IncomingBody) -> Result<Vec<u8>, Error> {
    let stream = incoming.stream().map_err(|()| Error::Body("the body was already taken".into()))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(body),
            Err(e) => return Err(stream_error(e)),
        }
    }
}

fn stream_error(e: StreamError) -> Error {
    match e {
        StreamError::Closed => Error::Body("closed".into()),
        StreamError::LastOperationFailed(err) => match wasip2::http::types::http_error_code(&err) {
            Some(code) => Error::Http(code),
            None => Error::Body(err.to_debug_string()),
        },
    }
}
