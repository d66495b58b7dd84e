//! Outbound HTTP of plugins: `wasi:http/outgoing-handler`, under the
//! manifest's `grants.http`, the operator's deny list and per-attempt limits.
//!
//! `wasmtime-wasi-http` does the guest-facing part; this module is its
//! `send_request` hook, so every request goes through [`OutboundHttp`]:
//! 1. limits: requests per attempt, requests in flight (refused at once past them);
//! 2. the deny list on the host name, then the grant's patterns (scheme, host
//!    and port must match one);
//! 3. the name is resolved here, every answer is checked (deny list, internal
//!    ranges unless the grant names that address literally), and the
//!    connection goes to a checked address: a DNS answer cannot rebind past
//!    the check;
//! 4. TLS with the webpki roots (SNI: the host name), HTTP/1.1 by hyper, which
//!    never follows redirects: a redirect is a response the guest may follow
//!    with a new request, checked like any other;
//! 5. connect and first-byte timeouts, all within the attempt's deadline;
//!    body caps both ways.
//!
//! The request runs in a task the crate aborts when its resource is dropped:
//! a cancelled or timed-out attempt drops its store, and with it every
//! request in flight and its connection.
//!
//! Every request writes one mission log line and one metric observation
//! ([`record`]).

pub mod address;
mod body;
pub mod deny;
mod record;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

pub use deny::{DenyList, DenyRule};
pub use record::{HttpObserver, HttpRequestSeen};

use self::body::{CappedRequestBody, CappedResponseBody};
use self::record::RequestRecord;
use super::reports::ReportSender;
use crate::model::http_grant::{Destination, HttpGrant, HttpScheme};
use crate::model::http_limits::HttpLimits;

/// `[outbound_http]`: the operator's policy over every plugin's requests.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundHttpConfig {
    /// Destinations no grant opens: addresses, ranges, host names, `*.domain`.
    pub deny: Vec<DenyRule>,
}

/// What every attempt's hooks share: the deny list, the TLS settings, the metric observer.
pub(crate) struct Shared {
    deny: DenyList,
    tls: tokio_rustls::TlsConnector,
    pub(crate) observer: OnceLock<HttpObserver>,
}

impl Shared {
    /// The shared state for `config`, with TLS verified against the webpki roots.
    pub(crate) fn new(config: &OutboundHttpConfig) -> anyhow::Result<Self> {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Shared {
            deny: DenyList(config.deny.clone()),
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            observer: OnceLock::new(),
        })
    }
}

/// The `wasi:http` hooks of one attempt.
pub(crate) struct OutboundHttp {
    shared: Arc<Shared>,
    /// The manifest's grant; `None`: every request is refused.
    grant: Option<Arc<HttpGrant>>,
    /// This plugin's limits (manifest within the host's maxima).
    limits: HttpLimits,
    /// Requests sent so far in this attempt.
    requests: u32,
    /// One permit per request in flight; a response body holds its permit
    /// until the guest drops it.
    slots: Arc<Semaphore>,
    /// The mission log (`None` while the plugin only describes itself).
    reports: Option<ReportSender>,
    /// For the log's lines and the metric's label.
    plugin: String,
    /// The attempt's end: no request outlives it.
    pub(crate) deadline: Option<tokio::time::Instant>,
    /// The `traceparent` requests carry when tracing is on (set by the runtime).
    pub(crate) traceparent: Option<String>,
}

impl OutboundHttp {
    /// The hooks of one attempt of `plugin`.
    pub(crate) fn new(
        shared: Arc<Shared>,
        grant: Option<HttpGrant>,
        limits: HttpLimits,
        reports: Option<ReportSender>,
        plugin: &str,
    ) -> Self {
        OutboundHttp {
            shared,
            grant: grant.map(Arc::new),
            slots: Arc::new(Semaphore::new(limits.max_concurrent as usize)),
            limits,
            requests: 0,
            reports,
            plugin: plugin.to_owned(),
            deadline: None,
            traceparent: None,
        }
    }

    /// Checks a request against the limits, the deny list's names and the
    /// grant; the error is the code the guest sees, the reason is on the record.
    fn admit(
        &mut self,
        dest: &Destination,
        record: &mut RequestRecord,
    ) -> Result<(Arc<HttpGrant>, tokio::sync::OwnedSemaphorePermit), Error> {
        let limits = self.limits;
        if self.requests >= limits.max_requests {
            record.deny(format!(
                "the attempt already sent {} requests, its limit (limits.http.max_requests)",
                limits.max_requests
            ));
            return Err(Error::ConnectionLimitReached);
        }
        self.requests += 1;
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            record.deny(format!(
                "{} requests are already in flight, the limit (limits.http.max_concurrent)",
                limits.max_concurrent
            ));
            return Err(Error::ConnectionLimitReached);
        };
        let denied = dest.name().and_then(|n| self.shared.deny.name(n));
        if let Some(rule) = denied.or_else(|| dest.ip().and_then(|ip| self.shared.deny.address(ip))) {
            record.deny(format!("the host's deny list refuses {dest} (`{}`)", rule.as_str()));
            return Err(Error::HttpRequestDenied);
        }
        let Some(grant) = &self.grant else {
            record.deny(format!("{dest} is not allowed: the plugin's manifest has no `grants.http`"));
            return Err(Error::HttpRequestDenied);
        };
        if grant.allowing(dest).is_none() {
            record.deny(format!(
                "{dest} is not allowed: no pattern of grants.http.allowed_hosts {} matches it",
                grant.describe()
            ));
            return Err(Error::HttpRequestDenied);
        }
        Ok((grant.clone(), slot))
    }
}

/// The future `send_request` returns.
type SendFuture = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>>
        + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let uri = request.uri().clone();
        let dest = uri.scheme_str().zip(uri.authority()).and_then(|(s, a)| Destination::parse(s, a.as_str()));
        let shown = dest.as_ref().map_or_else(|| "(no valid http(s) host)".to_owned(), ToString::to_string);
        let mut record = RequestRecord {
            label: format!("{} {shown}{}", request.method(), uri.path()),
            plugin: self.plugin.clone(),
            host: dest.as_ref().map(|d| d.host.to_string()).unwrap_or_default(),
            started: Instant::now(),
            status: None,
            error: None,
            denied: false,
            sent: Arc::new(AtomicU64::new(0)),
            received: 0,
            reports: self.reports.clone(),
            observer: self.shared.observer.get().cloned(),
        };
        let Some(dest) = dest else {
            record.deny("the URL needs an http or https scheme and a host");
            return Box::new(std::future::ready(Err(Error::HttpRequestUriInvalid)));
        };
        let (grant, slot) = match self.admit(&dest, &mut record) {
            Ok(admitted) => admitted,
            Err(code) => return Box::new(std::future::ready(Err(code))),
        };
        let declared = request.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
        if declared.and_then(|v| v.parse::<u64>().ok()).is_some_and(|n| n > self.limits.max_request_body_bytes) {
            record.deny(format!(
                "its body is over {} bytes (limits.http.max_request_body_bytes)",
                self.limits.max_request_body_bytes
            ));
            return Box::new(std::future::ready(Err(Error::HttpRequestBodySize(None))));
        }
        if !request.headers().contains_key("traceparent")
            && let Some(tp) = &self.traceparent
            && let Ok(value) = http::HeaderValue::from_str(tp)
        {
            request.headers_mut().insert("traceparent", value);
        }
        let at_most = |ours: Duration, theirs: Option<Duration>| theirs.map_or(ours, |t| t.min(ours));
        let exchange = Exchange {
            dest,
            grant,
            shared: self.shared.clone(),
            connect_timeout: at_most(self.limits.connect_timeout(), options.and_then(|o| o.connect_timeout)),
            first_byte_timeout: at_most(self.limits.first_byte_timeout(), options.and_then(|o| o.first_byte_timeout)),
            limits: self.limits,
        };
        let deadline = self.deadline;
        Box::new(async move {
            let sent = record.sent.clone();
            let outcome = match deadline {
                Some(at) => match tokio::time::timeout_at(at, exchange.run(request, sent, &mut record)).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        record.fail("the attempt's deadline passed before the response came");
                        Err(Error::ConnectionTimeout)
                    }
                },
                None => exchange.run(request, sent, &mut record).await,
            };
            let (response, connection) = outcome?;
            record.status = Some(response.status().as_u16());
            let cap = exchange.limits.max_response_body_bytes;
            let response = response
                .map(|inner| CappedResponseBody { inner, cap, record, stopped: false, _slot: slot }.boxed_unsync());
            let io: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(async move {
                // Aborted (and the connection closed) when the crate drops this future.
                let _ = connection.await;
                Ok(())
            });
            Ok((response, io))
        })
    }
}

/// One request's way out, once admitted.
struct Exchange {
    dest: Destination,
    grant: Arc<HttpGrant>,
    shared: Arc<Shared>,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
    limits: HttpLimits,
}

/// A stream to the server, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

type Connection = wasmtime_wasi::runtime::AbortOnDropJoinHandle<()>;

impl Exchange {
    /// Resolves, checks, connects and sends; the response's head, and the
    /// task driving the connection (aborted when dropped).
    async fn run(
        &self,
        request: http::Request<WasiBody>,
        sent: Arc<AtomicU64>,
        record: &mut RequestRecord,
    ) -> Result<(http::Response<hyper::body::Incoming>, Connection), Error> {
        let addrs = self.addresses(record).await?;
        let stream = self.connect(&addrs, record).await?;
        let io = TokioIo::new(stream);
        let handshake = tokio::time::timeout(self.connect_timeout, hyper::client::conn::http1::handshake(io));
        let (mut sender, connection) = match handshake.await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                record.fail(format!("HTTP handshake: {e}"));
                return Err(Error::Hyper(e));
            }
            Err(_) => {
                record.fail("HTTP handshake timed out");
                return Err(Error::ConnectionTimeout);
            }
        };
        let connection = wasmtime_wasi::runtime::spawn(async move {
            let _ = connection.await;
        });
        let (mut parts, body) = request.into_parts();
        // The request line carries the path and query only (no proxy).
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = http::Uri::builder().path_and_query(path).build().map_err(|_| Error::HttpRequestUriInvalid)?;
        let cap = self.limits.max_request_body_bytes;
        let request = http::Request::from_parts(parts, CappedRequestBody { inner: body, cap, sent: sent.clone() });
        match tokio::time::timeout(self.first_byte_timeout, sender.send_request(request)).await {
            Ok(Ok(response)) => Ok((response, connection)),
            Ok(Err(_)) if sent.load(std::sync::atomic::Ordering::Relaxed) > cap => {
                record.deny(format!("its body went over {cap} bytes (limits.http.max_request_body_bytes)"));
                Err(Error::HttpRequestBodySize(None))
            }
            Ok(Err(e)) => {
                record.fail(e.to_string());
                Err(Error::Hyper(e))
            }
            Err(_) => {
                record.fail(format!(
                    "no response within {} ms (limits.http.first_byte_timeout_ms)",
                    self.first_byte_timeout.as_millis()
                ));
                Err(Error::ConnectionReadTimeout)
            }
        }
    }

    /// The addresses this request may connect to: the host's, resolved here,
    /// without those the deny list refuses and the internal ones the grant
    /// does not name literally.
    async fn addresses(&self, record: &mut RequestRecord) -> Result<Vec<SocketAddr>, Error> {
        let dest = &self.dest;
        let all: Vec<SocketAddr> = match (dest.ip(), dest.name()) {
            (Some(ip), _) => vec![SocketAddr::new(ip, dest.port)],
            (None, Some(name)) => {
                match tokio::time::timeout(self.connect_timeout, tokio::net::lookup_host((name, dest.port))).await {
                    Ok(Ok(found)) => found.collect(),
                    Ok(Err(e)) => {
                        record.fail(format!("resolving {name}: {e}"));
                        return Err(Error::DnsError { rcode: Some(e.to_string()), info_code: None });
                    }
                    Err(_) => {
                        record.fail(format!("resolving {name} timed out"));
                        return Err(Error::DnsTimeout);
                    }
                }
            }
            (None, None) => return Err(Error::HttpRequestUriInvalid),
        };
        let mut refused = None;
        let allowed: Vec<SocketAddr> = all
            .into_iter()
            .filter(|a| match self.refusal(a.ip()) {
                Some(why) => {
                    refused.get_or_insert(why);
                    false
                }
                None => true,
            })
            .collect();
        match (allowed.is_empty(), refused) {
            (false, _) => Ok(allowed),
            (true, Some((why, code))) => {
                record.deny(why);
                Err(code)
            }
            (true, None) => {
                record.fail(format!("{dest} resolves to no address"));
                Err(Error::DestinationNotFound)
            }
        }
    }

    /// Why this request may not connect to `ip`, if it may not.
    fn refusal(&self, ip: IpAddr) -> Option<(String, Error)> {
        let dest = &self.dest;
        if let Some(rule) = self.shared.deny.address(ip) {
            let why = format!("the host's deny list refuses {ip} (`{}`), where {dest} leads", rule.as_str());
            return Some((why, Error::HttpRequestDenied));
        }
        let range = address::internal_range(ip)?;
        if self.grant.names_literally(dest, ip) {
            return None;
        }
        Some((
            format!(
                "{dest} leads to {ip}, {range}: an internal address is reachable only when grants.http.allowed_hosts \
                 names it literally"
            ),
            Error::DestinationIpProhibited,
        ))
    }

    /// A connection to the first address that answers, in TLS for `https`.
    async fn connect(&self, addrs: &[SocketAddr], record: &mut RequestRecord) -> Result<Box<dyn Stream>, Error> {
        let mut last = None;
        for addr in addrs {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => return self.secure(tcp, record).await,
                Ok(Err(e)) => last = Some((format!("connecting to {addr}: {e}"), Error::Connect(e))),
                Err(_) => {
                    last = Some((
                        format!(
                            "connecting to {addr} took over {} ms (limits.http.connect_timeout_ms)",
                            self.connect_timeout.as_millis()
                        ),
                        Error::ConnectionTimeout,
                    ))
                }
            }
        }
        let (why, code) = last.unwrap_or_else(|| ("no address to connect to".to_owned(), Error::DestinationNotFound));
        record.fail(why);
        Err(code)
    }

    /// TLS over `tcp` for `https` (server name: the host name, or the address).
    async fn secure(&self, tcp: TcpStream, record: &mut RequestRecord) -> Result<Box<dyn Stream>, Error> {
        if self.dest.scheme == HttpScheme::Http {
            return Ok(Box::new(tcp));
        }
        let name = match (self.dest.name(), self.dest.ip()) {
            (Some(n), _) => {
                rustls::pki_types::ServerName::try_from(n.to_owned()).map_err(|_| Error::HttpRequestUriInvalid)?
            }
            (None, Some(ip)) => rustls::pki_types::ServerName::IpAddress(ip.into()),
            (None, None) => return Err(Error::HttpRequestUriInvalid),
        };
        match tokio::time::timeout(self.connect_timeout, self.shared.tls.connect(name, tcp)).await {
            Ok(Ok(tls)) => Ok(Box::new(tls)),
            Ok(Err(e)) => {
                record.fail(format!("TLS: {e}"));
                Err(Error::Tls(e))
            }
            Err(_) => {
                record.fail("the TLS handshake timed out");
                Err(Error::ConnectionTimeout)
            }
        }
    }
}
