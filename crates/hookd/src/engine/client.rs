//! The one outbound HTTP client. Every request hookd sends to a receiver goes through
//! [`DeliveryClient::send`], which owns the timeout, the refusal to use proxies or follow
//! redirects, the bounded read of the response body, and the SSRF guard. The guard sits where it
//! is sound: IP literals are checked here before sending, and hostnames are resolved once by our
//! own resolver (`resolver`), every address is checked, and the connection is made only to those
//! checked addresses, so a DNS answer that changes between check and connect (DNS rebinding)
//! cannot redirect a delivery. This module must not sign payloads, decide retries or record attempts;
//! it sends one prepared request and reports what happened.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

pub use super::transformation::HttpMethod;
use crate::policy::outcome::{AttemptOutcome, FailureCode, classify_status};
use crate::policy::ssrf::{BlockedHost, TargetPolicy, check_url};
use crate::telemetry::ErrorChain;

mod resolver;

use resolver::GuardedResolver;
pub use resolver::{Resolver, SystemResolver};

/// How the client talks to receivers.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The limit for one whole attempt: connecting, sending and reading the response.
    pub timeout: Duration,
    pub policy: TargetPolicy,
    /// How many bytes of the response body are kept; the rest is never read.
    pub max_response_body: usize,
    pub user_agent: String,
}

/// One request, ready to send: the caller has already signed it and set its headers, including
/// `content-type`. It is always sent with `POST`.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// `POST`, unless the endpoint's transformation chose `PUT`.
    pub method: HttpMethod,
    pub url: url::Url,
    /// Header names and values, in order; a repeated name is sent repeatedly.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// What happened when a request was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    pub outcome: AttemptOutcome,
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// From just before sending until the response body prefix was read or the attempt failed.
    pub duration: Duration,
    /// The start of the response body, decoded as lossy UTF-8 and at most `max_response_body`
    /// bytes long.
    pub response_body_prefix: String,
    /// The response headers, at most `MAX_KEPT_HEADERS` of them, values cut to
    /// `MAX_KEPT_HEADER_VALUE` bytes.
    pub response_headers: Vec<(String, String)>,
}

/// How many response headers an attempt keeps.
const MAX_KEPT_HEADERS: usize = 64;
/// How much of each kept response header value.
const MAX_KEPT_HEADER_VALUE: usize = 512;

/// The client could not be built (for example, the TLS backend failed to initialise).
#[derive(Debug, thiserror::Error)]
#[error("failed to build the outbound HTTP client")]
pub struct ClientBuildError(#[from] reqwest::Error);

/// Sends deliveries. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct DeliveryClient {
    http: reqwest::Client,
    config: Arc<ClientConfig>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout: Duration::from_secs(15),
            policy: TargetPolicy::default(),
            max_response_body: 4096,
            user_agent: concat!("hookd/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl DeliveryClient {
    /// A client that resolves names with `resolver` (in production, [`SystemResolver`]).
    /// Connections go only to the addresses it returns, and only after each of them has passed
    /// the SSRF guard.
    pub fn new(
        config: ClientConfig,
        resolver: Arc<dyn Resolver>,
    ) -> Result<Self, ClientBuildError> {
        let guarded_resolver = GuardedResolver::new(resolver, config.policy.allow_private);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Proxies from the environment would connect on our behalf to addresses the guard
            // never saw.
            .no_proxy()
            .https_only(config.policy.https_only)
            .timeout(config.timeout)
            .user_agent(config.user_agent.as_str())
            .dns_resolver(Arc::new(guarded_resolver))
            .build()?;
        Ok(DeliveryClient {
            http,
            config: Arc::new(config),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Sends `request` once and classifies the result. Never fails: every problem is an outcome.
    pub async fn send(&self, request: OutboundRequest) -> SendReport {
        let started = Instant::now();
        let host = request.url.host_str().unwrap_or_default().to_owned();
        // reqwest does not consult the resolver for IP literals, so they are checked here, before
        // any connection is attempted.
        if let Err(rejection) = check_url(&request.url, &self.config.policy) {
            let code = if rejection.is_ssrf() {
                FailureCode::SsrfBlocked
            } else {
                FailureCode::InvalidUrl
            };
            tracing::debug!(host, failure_code = %code, error = %rejection, "delivery target refused");
            return SendReport::refused(code, &rejection, started);
        }
        let headers = match header_map(&request.headers) {
            Ok(headers) => headers,
            Err(error) => {
                tracing::debug!(host, error = %ErrorChain(&error), "delivery request has an invalid header");
                return SendReport::without_response(FailureCode::Other, started);
            }
        };
        let sent = self
            .http
            .request(
                match request.method {
                    HttpMethod::Post => reqwest::Method::POST,
                    HttpMethod::Put => reqwest::Method::PUT,
                },
                request.url,
            )
            .headers(headers)
            .body(request.body)
            .send()
            .await;
        match sent {
            Ok(response) => self.read_response(response, started).await,
            Err(error) => {
                let code = classify_send_error(&error);
                // The URL may carry secrets in its query string, so it stays out of the log.
                let error = error.without_url();
                tracing::debug!(host, failure_code = %code, error = %ErrorChain(&error), "delivery attempt failed");
                match find_source::<BlockedHost>(&error) {
                    Some(refusal) => SendReport::refused(code, refusal, started),
                    None => SendReport::without_response(code, started),
                }
            }
        }
    }

    async fn read_response(&self, mut response: reqwest::Response, started: Instant) -> SendReport {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok());
        let outcome = classify_status(status, retry_after, SystemTime::now());
        let response_headers = response
            .headers()
            .iter()
            .take(MAX_KEPT_HEADERS)
            .map(|(name, value)| {
                let value = lossy_prefix(value.as_bytes(), MAX_KEPT_HEADER_VALUE);
                (name.as_str().to_owned(), value)
            })
            .collect();
        let (response_body_prefix, body_failure) =
            read_body_prefix(&mut response, self.config.max_response_body).await;
        let outcome = match body_failure {
            Some(code) => outcome.with_unfinished_body(code),
            None => outcome,
        };
        SendReport {
            outcome,
            status: Some(status),
            duration: started.elapsed(),
            response_body_prefix,
            response_headers,
        }
    }
}

impl SendReport {
    /// The report for an attempt that was given up before it reached the client, such as a
    /// message whose payload is gone. `detail` is a short reason for the endpoint's owner; it is
    /// kept where a response body would be, since no receiver answered.
    pub fn not_sent(code: FailureCode, detail: &str) -> Self {
        SendReport {
            outcome: AttemptOutcome::failed_without_response(code),
            status: None,
            duration: Duration::ZERO,
            response_body_prefix: detail.to_owned(),
            response_headers: Vec::new(),
        }
    }

    /// The report for a request the SSRF guard or the URL policy refused: the refusal is kept
    /// where a response body would be, so the endpoint's owner can read why (and, for a local
    /// target, how to allow it).
    fn refused(code: FailureCode, refusal: &dyn fmt::Display, started: Instant) -> Self {
        SendReport {
            response_body_prefix: refusal.to_string(),
            ..SendReport::without_response(code, started)
        }
    }

    fn without_response(code: FailureCode, started: Instant) -> Self {
        SendReport {
            outcome: AttemptOutcome::failed_without_response(code),
            status: None,
            duration: started.elapsed(),
            response_body_prefix: String::new(),
            response_headers: Vec::new(),
        }
    }
}

/// A header the caller supplied that HTTP cannot carry. Only the name is kept: values may be
/// secrets.
#[derive(Debug, thiserror::Error)]
#[error("header {name:?} has an invalid name or value")]
struct InvalidHeader {
    name: String,
}

fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, InvalidHeader> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let invalid = || InvalidHeader { name: name.clone() };
        let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        let header_value = HeaderValue::from_str(value).map_err(|_| invalid())?;
        map.append(header_name, header_value);
    }
    Ok(map)
}

/// Reads at most `limit` bytes of the body, one chunk at a time, and stops there: a receiver that
/// answers with a huge or endless body costs us no more than `limit` bytes (plus one chunk).
/// Returns the prefix, and the failure code when the body ended in an error before the limit (a
/// body still unfinished when the attempt's timeout ran out is `BodyTimeout`).
async fn read_body_prefix(
    response: &mut reqwest::Response,
    limit: usize,
) -> (String, Option<FailureCode>) {
    let mut prefix = Vec::new();
    let mut failure = None;
    while prefix.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - prefix.len();
                prefix.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) => break,
            Err(error) => {
                let code = match classify_send_error(&error) {
                    FailureCode::Timeout => FailureCode::BodyTimeout,
                    code => code,
                };
                tracing::debug!(failure_code = %code, error = %ErrorChain(&error.without_url()), "response body read failed");
                failure = Some(code);
                break;
            }
        }
    }
    (lossy_prefix(&prefix, limit), failure)
}

/// Decodes `bytes` as lossy UTF-8 and keeps at most `limit` bytes of the text, cutting at a
/// character boundary. Replacement characters are longer than the bytes they replace, so the
/// text is bounded again after decoding. What an attempt keeps of a receiver's answer (its body
/// prefix and each header value) is cut by this; public for the fuzz targets.
pub fn lossy_prefix(bytes: &[u8], limit: usize) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn classify_send_error(error: &reqwest::Error) -> FailureCode {
    if find_source::<BlockedHost>(error).is_some() {
        FailureCode::SsrfBlocked
    } else if error.is_timeout() {
        FailureCode::Timeout
    } else if is_tls_failure(error) {
        FailureCode::Tls
    } else if error.is_connect() {
        FailureCode::Connect
    } else if error.is_builder() {
        FailureCode::InvalidUrl
    } else if let Some(code) = find_source::<hyper::Error>(error).and_then(classify_http_error) {
        code
    } else if let Some(io_error) = find_source::<io::Error>(error) {
        match io_error.kind() {
            io::ErrorKind::ConnectionReset => FailureCode::ConnectionReset,
            _ => FailureCode::Io,
        }
    } else {
        FailureCode::Other
    }
}

/// The HTTP/1 protocol failures that have codes of their own: a response head too large to read
/// (hyper limits both the number of headers and their bytes), and anything that does not parse
/// as a response, including a head cut short by the connection closing. Other hyper errors (an
/// I/O error underneath, for instance) are left to the caller's next checks.
fn classify_http_error(error: &hyper::Error) -> Option<FailureCode> {
    if error.is_parse_too_large() {
        Some(FailureCode::ResponseHeadersTooLarge)
    } else if error.is_parse() || error.is_parse_status() || error.is_incomplete_message() {
        Some(FailureCode::MalformedResponse)
    } else {
        None
    }
}

fn is_tls_failure(error: &reqwest::Error) -> bool {
    find_source::<rustls::Error>(error).is_some()
}

/// The first error of type `E` in the chain that starts at `error`.
///
/// `io::Error::source` skips the error it wraps and returns that error's source instead, so the
/// walk steps into an `io::Error` through `get_ref`; that is where the TLS and resolver errors sit.
fn find_source<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut current = Some(error);
    while let Some(candidate) = current {
        if let Some(found) = candidate.downcast_ref::<E>() {
            return Some(found);
        }
        current = match candidate.downcast_ref::<io::Error>() {
            Some(io_error) => match io_error.get_ref() {
                Some(inner) => Some(inner as &(dyn StdError + 'static)),
                None => candidate.source(),
            },
            None => candidate.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests;
