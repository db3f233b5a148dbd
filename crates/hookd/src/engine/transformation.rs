//! Endpoint transformations: an endpoint's JavaScript `handler(webhook)` that may rewrite a
//! delivery's payload, method, URL and custom headers, or cancel it, before it is signed.
//!
//! The code runs in `sandbox` (QuickJS, a fresh runtime per call, no I/O, time, memory and stack
//! limits) on tokio's blocking pool, so a slow function never holds an async worker and other
//! deliveries go on. What it returns is judged here, purely: the method must be `POST` or `PUT`,
//! the URL an `EndpointUrl` (http or https; the SSRF guard still judges it when it is sent, in
//! the one delivery client), the headers the rules of custom headers (`domain::endpoint_headers`:
//! no signature or framing header, no CR/LF). The payload becomes the body the signature is
//! computed over. Endpoints without a transformation never reach this module.

mod sandbox;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use sandbox::Limits;
use sandbox::{SandboxInput, SandboxOutput, SandboxPayload};

use crate::domain::EndpointUrl;
use crate::domain::endpoint_headers::check_headers;
use crate::store::ClaimedDelivery;

/// The longest transformation source accepted.
pub const MAX_CODE_BYTES: usize = 64 * 1024;
/// How long one call (the code's top level and `handler`) may run.
pub const TIME_LIMIT: Duration = Duration::from_millis(100);
/// Memory every call may use, before the payload's share (`limits_for`).
pub const BASE_MEMORY_BYTES: usize = 16 * 1024 * 1024;
/// The interpreter's stack: deep recursion fails here, well before the thread's own stack.
pub const STACK_BYTES: usize = 256 * 1024;
/// The largest body a transformation may produce.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Why a transformation could not be used. The text is what the attempt's record shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformationError {
    #[error("the code is longer than {MAX_CODE_BYTES} bytes")]
    TooLong,
    #[error("the code does not compile: {0}")]
    Syntax(String),
    #[error("the code defines no function named handler")]
    NoHandler,
    #[error("the function ran longer than {} ms", TIME_LIMIT.as_millis())]
    TimedOut,
    #[error("the function used more memory than its limit")]
    OutOfMemory,
    #[error("the function went deeper than the stack limit (runaway recursion?)")]
    StackOverflow,
    #[error("the function threw {0}")]
    Threw(String),
    #[error("the function returned an unusable webhook: {0}")]
    InvalidResult(String),
    #[error("the sandbox could not run: {0}")]
    Sandbox(String),
}

/// What a transformation made of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transformed {
    /// `webhook.cancel` was set: nothing is sent.
    Cancelled,
    Send(TransformedRequest),
}

/// The request a transformation asks for, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformedRequest {
    pub method: HttpMethod,
    pub url: EndpointUrl,
    pub body: String,
    /// `None`: JSON.
    pub content_type: Option<String>,
    /// Replaces the endpoint's custom headers for this request.
    pub headers: BTreeMap<String, String>,
}

/// The methods a delivery may use (Svix's: a transformation may switch to `PUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Post,
    Put,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
        }
    }
}

/// The limits of one call for a payload of `payload_bytes`: the base memory plus room for the
/// payload parsed into JavaScript values (about eight times its text).
pub fn limits_for(payload_bytes: usize) -> Limits {
    Limits {
        time: TIME_LIMIT,
        memory_bytes: BASE_MEMORY_BYTES.saturating_add(payload_bytes.saturating_mul(8)),
        stack_bytes: STACK_BYTES,
    }
}

/// Compiles and evaluates `code` once, as a PATCH must before it stores it: a syntax error, a
/// top level that throws or loops, or no `handler` function is refused then, never met at
/// delivery. Runs on the blocking pool.
pub async fn check_code(code: String) -> Result<(), TransformationError> {
    if code.len() > MAX_CODE_BYTES {
        return Err(TransformationError::TooLong);
    }
    tokio::task::spawn_blocking(move || sandbox::check(&code, limits_for(0)))
        .await
        .map_err(|error| TransformationError::Sandbox(error.to_string()))?
}

/// Runs the claim's transformation over `payload` and judges the result. Runs on the blocking
/// pool; the claim must carry a transformation.
pub async fn transform(
    code: Arc<str>,
    claim: &ClaimedDelivery,
    payload: &str,
) -> Result<Transformed, TransformationError> {
    let input = SandboxInput {
        method: HttpMethod::Post.as_str().to_owned(),
        url: claim.url.as_str().to_owned(),
        event_type: claim.event_type.as_str().to_owned(),
        payload: match claim.content_type {
            None => SandboxPayload::Json(payload.to_owned()),
            Some(_) => SandboxPayload::Text(payload.to_owned()),
        },
        headers: claim.headers.clone().into_iter().collect(),
    };
    let limits = limits_for(payload.len());
    let output = tokio::task::spawn_blocking(move || sandbox::run(&code, &input, limits))
        .await
        .map_err(|error| TransformationError::Sandbox(error.to_string()))??;
    judge(output, claim.content_type.as_deref())
}

/// The returned webhook as a request, or why it cannot be one. `content_type` is the
/// message's (`None`: JSON).
fn judge(
    output: SandboxOutput,
    content_type: Option<&str>,
) -> Result<Transformed, TransformationError> {
    let invalid = |problem: String| TransformationError::InvalidResult(problem);
    if output.cancel {
        return Ok(Transformed::Cancelled);
    }
    let method = match output.method.as_str() {
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        other => {
            let shown: String = other.chars().take(40).collect();
            return Err(invalid(format!(
                "webhook.method must be \"POST\" or \"PUT\", not {shown:?}"
            )));
        }
    };
    let url = EndpointUrl::parse(&output.url)
        .map_err(|error| invalid(format!("webhook.url: {error}")))?;
    let (body, content_type) = match (output.payload, content_type) {
        (SandboxPayload::Json(json), _) => (json, None),
        // A string stays text for a payload that was text, and is JSON for a JSON message.
        (SandboxPayload::Text(text), Some(content_type)) => (text, Some(content_type.to_owned())),
        (SandboxPayload::Text(text), None) => (
            serde_json::to_string(&text).map_err(|error| invalid(error.to_string()))?,
            None,
        ),
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(invalid(format!(
            "webhook.payload is over {MAX_BODY_BYTES} bytes"
        )));
    }
    let mut headers = BTreeMap::new();
    for (name, value) in output.headers {
        headers.insert(name, value);
    }
    check_headers(&headers).map_err(|error| invalid(format!("webhook.headers: {error}")))?;
    Ok(Transformed::Send(TransformedRequest {
        method,
        url,
        body,
        content_type,
        headers,
    }))
}

#[cfg(test)]
mod tests;
