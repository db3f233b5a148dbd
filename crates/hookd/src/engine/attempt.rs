//! One delivery attempt, as the spec reads: sign -> send -> classify -> decide the next step.
//!
//! The result is an `AttemptRecord` value; writing it is the dispatcher's job. Time and jitter
//! come from the caller, so the decision logic is testable without a clock.

use std::time::Duration;

use bytes::Bytes;

use super::client::{DeliveryClient, HttpMethod, OutboundRequest, SendReport};
use super::transformation::{self, Transformed};
use crate::domain::{
    Attempt, AttemptDetails, AttemptId, DeliveryStatus, Secret, Timestamp, TriggerType,
};
use crate::policy::outcome::{AttemptOutcome, FailureCode};
use crate::policy::retry::RetrySchedule;
use crate::store::{AttemptRecord, ClaimedDelivery, NextStep};

/// How deliveries are signed and retried.
#[derive(Debug, Clone)]
pub struct AttemptPolicy {
    pub retry_schedule: RetrySchedule,
    /// Also send `svix-id`/`svix-timestamp`/`svix-signature`, for receivers using Svix libraries.
    pub svix_headers: bool,
    /// An endpoint failing without a success for this long is disabled.
    pub disable_after: Duration,
    /// This node's name, recorded on every attempt it makes.
    pub node_id: String,
}

/// The headers of one outbound request, kept apart by who chose them, because the attempt's
/// record shows them differently: the endpoint's may carry credentials under any name, hookd's
/// own never do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeaders {
    /// The endpoint's custom headers, then the `Authorization` of its `auth`, if any.
    pub endpoint: Vec<(String, String)>,
    /// hookd's own: `content-type` and the signature headers.
    pub hookd: Vec<(String, String)>,
}

/// No stored secret of the endpoint parses (or none is stored), so its requests cannot be
/// signed. hookd never sends an unsigned webhook: the attempt fails instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not sent: the endpoint has no usable signing secret ({stored_secrets} stored, none can be \
     parsed); rotate its secret to deliver again"
)]
pub struct NoUsableSecret {
    pub stored_secrets: usize,
}

/// Endpoint header names whose values are known not to be credentials, so the record keeps them.
/// Every other header an endpoint configures is recorded as `[redacted]`: a name says too little
/// about its value (`X-Auth`, `X-Jwt`, `Private-Key`, `X-Session-Id`, ...) for a list of
/// dangerous names ever to be complete.
const HARMLESS_ENDPOINT_HEADERS: &[&str] = &[
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "cache-control",
    "content-language",
    "pragma",
    "traceparent",
    "tracestate",
    "x-correlation-id",
    "x-request-id",
];

/// How a redacted header value is recorded.
const REDACTED: &str = "[redacted]";

impl RequestHeaders {
    /// Every header in the order it is sent: the endpoint's first, then hookd's own.
    pub fn sent(&self) -> Vec<(String, String)> {
        self.endpoint.iter().chain(&self.hookd).cloned().collect()
    }

    /// The request's headers as the attempt's record keeps them, in the order they are sent: the
    /// endpoint's redacted unless known harmless, hookd's own in clear, and last the
    /// `User-Agent` the client adds.
    pub fn recorded(&self, user_agent: &str) -> Vec<(String, String)> {
        let endpoint = self.endpoint.iter().map(|(name, value)| {
            let harmless = HARMLESS_ENDPOINT_HEADERS
                .iter()
                .any(|harmless| name.eq_ignore_ascii_case(harmless));
            let value = if harmless {
                value.clone()
            } else {
                REDACTED.to_owned()
            };
            (name.clone(), value)
        });
        let user_agent = ("user-agent".to_owned(), user_agent.to_owned());
        endpoint
            .chain(self.hookd.iter().cloned())
            .chain([user_agent])
            .collect()
    }
}

/// The request headers for one attempt: the endpoint's custom headers and credentials, and the
/// Standard Webhooks headers (optionally with their `svix-*` twins) signed by every secret the
/// store could parse. Fails when there is none, since an unsigned request must not be sent.
pub fn signed_headers(
    claim: &ClaimedDelivery,
    body: &str,
    timestamp: i64,
    svix_headers: bool,
) -> Result<RequestHeaders, NoUsableSecret> {
    let secrets = claim.secrets.usable();
    if secrets.is_empty() {
        return Err(NoUsableSecret {
            stored_secrets: claim.secrets.stored(),
        });
    }
    let secret_refs: Vec<&Secret> = secrets.iter().collect();
    let signature = webhook_signature::signature_header(
        &secret_refs,
        claim.msg_id.as_str(),
        timestamp,
        body.as_bytes(),
    );
    let auth = claim.options.auth.as_ref();
    // Configured credentials replace a custom Authorization header rather than doubling it.
    let mut endpoint: Vec<(String, String)> = claim
        .headers
        .iter()
        .filter(|(name, _)| auth.is_none() || !name.eq_ignore_ascii_case("authorization"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    if let Some(auth) = auth {
        endpoint.push(("authorization".into(), auth.header_value()));
    }
    // An inbound request's original headers go first; the endpoint's own settings win a
    // clash, and hookd's signature, content type and framing are never taken from them.
    let originals: Vec<(String, String)> = claim
        .original_headers
        .iter()
        .filter(|(name, _)| {
            !crate::domain::inbound::never_forwarded(name)
                && !endpoint
                    .iter()
                    .any(|(set, _)| set.eq_ignore_ascii_case(name))
        })
        .cloned()
        .collect();
    endpoint.splice(0..0, originals);
    let content_type = claim.content_type.as_deref().unwrap_or("application/json");
    let mut hookd = vec![("content-type".to_owned(), content_type.to_owned())];
    let mut push_signed = |prefix: &str| {
        hookd.push((format!("{prefix}-id"), claim.msg_id.to_string()));
        hookd.push((format!("{prefix}-timestamp"), timestamp.to_string()));
        hookd.push((format!("{prefix}-signature"), signature.clone()));
    };
    push_signed("webhook");
    if svix_headers {
        push_signed("svix");
    }
    Ok(RequestHeaders { endpoint, hookd })
}

/// Makes one attempt for a claimed delivery and returns what to record, with the classified
/// outcome (which the scheduler learns from). An endpoint with a transformation has it run
/// first (`transform_and_send`); one without sends the stored payload byte for byte.
pub async fn attempt_delivery(
    client: &DeliveryClient,
    policy: &AttemptPolicy,
    claim: &ClaimedDelivery,
    started_at: Timestamp,
    jitter: f64,
) -> (AttemptRecord, AttemptOutcome) {
    let mut sent = Sent::default();
    let report = match (&claim.payload, &claim.transformation) {
        // A delivery queued before the endpoint became a polling endpoint: nothing is sent.
        _ if claim.url.is_polling() => SendReport::not_sent(
            FailureCode::Other,
            "a polling endpoint is never sent to: its consumer reads its messages",
        ),
        (None, _) => SendReport::not_sent(FailureCode::Other, "message content was expunged"),
        (Some(body), None) => {
            sign_and_send(
                client,
                policy,
                claim,
                body,
                HttpMethod::Post,
                started_at,
                &mut sent,
            )
            .await
        }
        (Some(body), Some(code)) => {
            transform_and_send(client, policy, claim, code, body, started_at, &mut sent).await
        }
    };
    let details = AttemptDetails {
        request_headers: sent.headers,
        response_headers: report.response_headers.clone(),
        node_id: Some(policy.node_id.clone()),
    };
    let attempts_made = claim.attempts_made + 1;
    let schedule = claim
        .options
        .retry_schedule
        .as_ref()
        .unwrap_or(&policy.retry_schedule);
    let next = match &report.outcome {
        // The same function fails the same way on every retry: give up now, and let the
        // endpoint's owner fix it and resend or recover.
        AttemptOutcome::Failed {
            code: FailureCode::TransformationFailed,
            ..
        } => NextStep::GiveUp,
        outcome => next_step(
            outcome,
            claim.trigger_type,
            schedule,
            attempts_made,
            started_at + report.duration,
            jitter,
        ),
    };
    let record = AttemptRecord {
        delivery_id: claim.delivery_id.clone(),
        lease_token: claim.lease_token,
        attempt_number: attempts_made,
        attempt: attempt_from_report(claim, sent.url.as_ref(), &report, started_at, details),
        next,
        // 410 Gone: the receiver says the endpoint no longer exists.
        disable_endpoint: report.status == Some(410),
        disable_if_failing_since: Some(started_at - to_chrono(policy.disable_after)),
        retry_after: match &report.outcome {
            AttemptOutcome::Failed { retry_after, .. } => *retry_after,
            AttemptOutcome::Delivered { .. } => None,
        },
    };
    (record, report.outcome)
}

/// What an attempt sent, for its record: the headers (redacted), and the URL when a
/// transformation changed it.
#[derive(Default)]
struct Sent {
    headers: Vec<(String, String)>,
    url: Option<String>,
}

/// What the record of a cancelled delivery says where a response would be.
pub const CANCELLED_BY_TRANSFORMATION: &str =
    "cancelled by the endpoint's transformation: no request was sent";

/// Runs the endpoint's transformation, then signs and sends what it made of the delivery: the
/// signature covers the transformed body, and the rewritten URL goes through the same client
/// and SSRF guard. A cancelled delivery ends as done without a request; a failing function
/// fails the attempt with `transformation_failed` and its reason.
async fn transform_and_send(
    client: &DeliveryClient,
    policy: &AttemptPolicy,
    claim: &ClaimedDelivery,
    code: &std::sync::Arc<str>,
    body: &str,
    started_at: Timestamp,
    sent: &mut Sent,
) -> SendReport {
    match transformation::transform(code.clone(), claim, body).await {
        Err(error) => {
            tracing::info!(app_id = %claim.app_id, endpoint_id = %claim.endpoint_id,
                msg_id = %claim.msg_id, error = %error, "transformation failed; delivery not sent");
            SendReport::not_sent(
                FailureCode::TransformationFailed,
                &format!("transformation failed: {error}"),
            )
        }
        Ok(Transformed::Cancelled) => SendReport {
            outcome: AttemptOutcome::Delivered { status: 0 },
            status: None,
            duration: Duration::ZERO,
            response_body_prefix: CANCELLED_BY_TRANSFORMATION.to_owned(),
            response_headers: Vec::new(),
        },
        Ok(Transformed::Send(request)) => {
            let mut transformed = claim.clone();
            transformed.url = request.url;
            transformed.headers = request.headers;
            transformed.content_type = request.content_type;
            sent.url = Some(transformed.url.as_str().to_owned());
            let method = request.method;
            sign_and_send(
                client,
                policy,
                &transformed,
                &request.body,
                method,
                started_at,
                sent,
            )
            .await
        }
    }
}

/// Signs `body` for `claim` and sends it; an endpoint without a usable secret sends nothing.
async fn sign_and_send(
    client: &DeliveryClient,
    policy: &AttemptPolicy,
    claim: &ClaimedDelivery,
    body: &str,
    method: HttpMethod,
    started_at: Timestamp,
    sent: &mut Sent,
) -> SendReport {
    match signed_headers(claim, body, started_at.timestamp(), policy.svix_headers) {
        Err(unsignable) => {
            tracing::warn!(app_id = %claim.app_id, endpoint_id = %claim.endpoint_id,
                msg_id = %claim.msg_id, error = %unsignable, "delivery not sent");
            SendReport::not_sent(FailureCode::SigningFailed, &unsignable.to_string())
        }
        Ok(headers) => {
            sent.headers = headers.recorded(&client.config().user_agent);
            let request = OutboundRequest {
                method,
                url: claim.url.as_url().clone(),
                headers: headers.sent(),
                body: Bytes::from(body.to_owned()),
            };
            client.send(request).await
        }
    }
}

/// Success finishes the delivery; a failure retries on the schedule (or later, when the receiver
/// asked for more time with `Retry-After`) until the schedule runs out. Manual resends never retry.
pub fn next_step(
    outcome: &AttemptOutcome,
    trigger_type: TriggerType,
    schedule: &RetrySchedule,
    attempts_made: u32,
    finished_at: Timestamp,
    jitter: f64,
) -> NextStep {
    match outcome {
        AttemptOutcome::Delivered { .. } => NextStep::Done,
        AttemptOutcome::Failed { .. } if trigger_type == TriggerType::Manual => NextStep::GiveUp,
        AttemptOutcome::Failed { retry_after, .. } => {
            match schedule.delay_after(attempts_made, jitter) {
                None => NextStep::GiveUp,
                Some(delay) => {
                    let delay = retry_after.map_or(delay, |asked| asked.max(delay));
                    NextStep::RetryAt(finished_at + to_chrono(delay))
                }
            }
        }
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

fn attempt_from_report(
    claim: &ClaimedDelivery,
    transformed_url: Option<&String>,
    report: &SendReport,
    started_at: Timestamp,
    details: AttemptDetails,
) -> Attempt {
    let (status, failure_code) = match &report.outcome {
        AttemptOutcome::Delivered { .. } => (DeliveryStatus::Success, None),
        AttemptOutcome::Failed { code, .. } => (DeliveryStatus::Fail, Some((*code).into())),
    };
    Attempt {
        id: AttemptId::generate(started_at, rand::random()),
        app_id: claim.app_id.clone(),
        msg_id: claim.msg_id.clone(),
        endpoint_id: claim.endpoint_id.clone(),
        url: transformed_url.map_or_else(|| claim.url.as_str().to_owned(), String::clone),
        status,
        response_status_code: report.status.unwrap_or(0),
        response: report.response_body_prefix.clone(),
        response_duration_ms: u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
        failure_code,
        trigger_type: claim.trigger_type,
        created_at: started_at,
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(seconds: i64) -> Timestamp {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    fn failed(retry_after: Option<u64>) -> AttemptOutcome {
        AttemptOutcome::Failed {
            code: FailureCode::HttpStatus,
            status: Some(500),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    fn check(outcome: AttemptOutcome, attempts_made: u32, expected: NextStep) {
        check_trigger(outcome, TriggerType::Scheduled, attempts_made, expected);
    }

    fn check_trigger(
        outcome: AttemptOutcome,
        trigger: TriggerType,
        attempts_made: u32,
        expected: NextStep,
    ) {
        let schedule: RetrySchedule = "10s,1m".parse().unwrap();
        // jitter 0.5 is the midpoint: exactly the scheduled delay.
        let next = next_step(&outcome, trigger, &schedule, attempts_made, at(1000), 0.5);
        assert_eq!(
            next, expected,
            "{outcome:?} {trigger:?} after {attempts_made} attempts"
        );
    }

    /// Header names that carry credentials, in the spellings receivers use; the old name
    /// heuristic recorded the last twelve in clear.
    const CREDENTIAL_HEADER_NAMES: [&str; 21] = [
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "X-Api-Key",
        "ApiKey",
        "X-Auth-Token",
        "X-Client-Secret",
        "X-Password",
        "X-Session-Token",
        "X-Api_Key",
        "X-Auth",
        "X-Access-Key",
        "Authentication",
        "Private-Key",
        "X-Jwt",
        "X-Session-Id",
        "X-Credentials",
        "X-Passwd",
        "X-Passphrase",
        "X-Hmac-Signature",
        "X-Sig",
    ];

    fn pairs(headers: &[(&str, &str)]) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    /// Records `(name, value)` as an endpoint header (or as hookd's own) and checks the value
    /// the record keeps.
    fn check_recorded(name: &str, from_endpoint: bool, expected: &str) {
        let header = pairs(&[(name, "value-1")]);
        let headers = if from_endpoint {
            RequestHeaders {
                endpoint: header,
                hookd: Vec::new(),
            }
        } else {
            RequestHeaders {
                endpoint: Vec::new(),
                hookd: header,
            }
        };
        let recorded = headers.recorded("hookd/test");
        assert_eq!(
            recorded,
            pairs(&[(name, expected), ("user-agent", "hookd/test")]),
            "{name} from the endpoint: {from_endpoint}"
        );
    }

    #[test]
    fn endpoint_headers_are_recorded_redacted_unless_known_harmless() {
        for name in CREDENTIAL_HEADER_NAMES {
            check_recorded(name, true, "[redacted]");
        }
        for unknown in ["X-Team", "X-Tenant", "Foo"] {
            check_recorded(unknown, true, "[redacted]");
        }
        for harmless in [
            "Accept",
            "accept-language",
            "Cache-Control",
            "X-Request-Id",
            "traceparent",
        ] {
            check_recorded(harmless, true, "value-1");
        }
        for own in [
            "content-type",
            "webhook-id",
            "webhook-signature",
            "svix-timestamp",
        ] {
            check_recorded(own, false, "value-1");
        }
    }

    #[test]
    fn headers_are_sent_and_recorded_in_one_order() {
        let headers = RequestHeaders {
            endpoint: pairs(&[
                ("x-team", "core"),
                ("accept", "*/*"),
                ("authorization", "Bearer t"),
            ]),
            hookd: pairs(&[
                ("content-type", "application/json"),
                ("webhook-id", "msg_1"),
            ]),
        };
        assert_eq!(
            headers.sent(),
            pairs(&[
                ("x-team", "core"),
                ("accept", "*/*"),
                ("authorization", "Bearer t"),
                ("content-type", "application/json"),
                ("webhook-id", "msg_1"),
            ])
        );
        assert_eq!(
            headers.recorded("hookd/1 (node a)"),
            pairs(&[
                ("x-team", "[redacted]"),
                ("accept", "*/*"),
                ("authorization", "[redacted]"),
                ("content-type", "application/json"),
                ("webhook-id", "msg_1"),
                ("user-agent", "hookd/1 (node a)"),
            ])
        );
    }

    fn claim_with_secrets(secrets: &[&str]) -> ClaimedDelivery {
        use crate::domain::MessageId;
        use crate::domain::{
            AppId, DeliveryId, DeliveryOptions, EndpointId, EndpointUrl, EventTypeName,
            SigningSecrets,
        };
        ClaimedDelivery {
            delivery_id: DeliveryId::from_trusted("dlv_1"),
            lease_token: 1,
            app_id: AppId::from_trusted("app_1"),
            msg_id: MessageId::from_trusted("msg_1"),
            endpoint_id: EndpointId::from_trusted("ep_1"),
            event_type: EventTypeName::parse("a.b").unwrap(),
            attempts_made: 0,
            trigger_type: TriggerType::Scheduled,
            url: EndpointUrl::parse("http://example.com").unwrap(),
            headers: Default::default(),
            options: DeliveryOptions::default(),
            secrets: SigningSecrets::from_stored(secrets.iter().copied()),
            payload: Some("{}".into()),
            content_type: None,
            original_headers: Vec::new(),
            transformation: None,
        }
    }

    #[test]
    fn every_secret_that_parses_signs_and_none_means_no_request() {
        let valid = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let broken = "whsec_not base64!";
        // (stored secrets, `v1,` signatures expected, or the error)
        let cases: [(&[&str], Result<usize, NoUsableSecret>); 5] = [
            (&[valid], Ok(1)),
            (&[valid, valid], Ok(2)),
            (&[broken, valid], Ok(1)),
            (&[broken], Err(NoUsableSecret { stored_secrets: 1 })),
            (&[], Err(NoUsableSecret { stored_secrets: 0 })),
        ];
        for (secrets, expected) in cases {
            let signed = signed_headers(&claim_with_secrets(secrets), "{}", 1_700_000_000, false);
            let signatures = signed.map(|headers| {
                let (_, signature) = headers
                    .hookd
                    .iter()
                    .find(|(name, _)| name == "webhook-signature")
                    .expect("a webhook-signature header")
                    .clone();
                signature
                    .split(' ')
                    .filter(|part| part.starts_with("v1,"))
                    .count()
            });
            assert_eq!(signatures, expected, "{secrets:?}");
        }
    }

    #[test]
    fn next_steps() {
        check(AttemptOutcome::Delivered { status: 200 }, 1, NextStep::Done);
        check(failed(None), 1, NextStep::RetryAt(at(1010)));
        check(failed(None), 2, NextStep::RetryAt(at(1060)));
        check(failed(None), 3, NextStep::GiveUp);
        // Retry-After longer than the schedule wins; shorter does not shorten it.
        check(failed(Some(300)), 1, NextStep::RetryAt(at(1300)));
        check(failed(Some(1)), 1, NextStep::RetryAt(at(1010)));
        check(failed(Some(300)), 3, NextStep::GiveUp);
        // A manual resend is one attempt: it does not start a retry schedule of its own.
        check_trigger(failed(None), TriggerType::Manual, 1, NextStep::GiveUp);
        let delivered = AttemptOutcome::Delivered { status: 204 };
        check_trigger(delivered, TriggerType::Manual, 1, NextStep::Done);
    }
}
