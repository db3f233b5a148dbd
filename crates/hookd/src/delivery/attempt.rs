//! One delivery attempt, as the spec reads: sign -> send -> classify -> decide the next step.
//!
//! The result is an `AttemptRecord` value; writing it is the dispatcher's job. Time and jitter
//! come from the caller, so the decision logic is testable without a clock.

use std::time::Duration;

use bytes::Bytes;

use super::client::{DeliveryClient, OutboundRequest, SendReport};
use super::outcome::{AttemptOutcome, FailureCode};
use super::retry::RetrySchedule;
use crate::domain::{Attempt, AttemptDetails, AttemptId, DeliveryStatus, Timestamp, TriggerType};
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
    pub node_id: Option<String>,
}

/// The Standard Webhooks headers (and optionally their `svix-*` twins) for one attempt.
pub fn signed_headers(
    claim: &ClaimedDelivery,
    body: &str,
    timestamp: i64,
    svix_headers: bool,
) -> Vec<(String, String)> {
    let secrets: Vec<webhook_signature::Secret> = claim
        .secrets
        .iter()
        .filter_map(|key| webhook_signature::Secret::parse(key).ok())
        .collect();
    let secret_refs: Vec<&webhook_signature::Secret> = secrets.iter().collect();
    let signature = webhook_signature::signature_header(
        &secret_refs,
        claim.msg_id.as_str(),
        timestamp,
        body.as_bytes(),
    );
    let auth = claim.options.auth.as_ref();
    // Configured credentials replace a custom Authorization header rather than doubling it.
    let mut headers: Vec<(String, String)> = claim
        .headers
        .iter()
        .filter(|(name, _)| auth.is_none() || !name.eq_ignore_ascii_case("authorization"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    if let Some(auth) = auth {
        headers.push(("authorization".into(), auth.header_value()));
    }
    headers.push(("content-type".into(), "application/json".into()));
    let mut push_signed = |prefix: &str| {
        headers.push((format!("{prefix}-id"), claim.msg_id.to_string()));
        headers.push((format!("{prefix}-timestamp"), timestamp.to_string()));
        headers.push((format!("{prefix}-signature"), signature.clone()));
    };
    push_signed("webhook");
    if svix_headers {
        push_signed("svix");
    }
    headers
}

/// Makes one attempt for a claimed delivery and returns what to record, with the classified
/// outcome (which the scheduler learns from).
pub async fn attempt_delivery(
    client: &DeliveryClient,
    policy: &AttemptPolicy,
    claim: &ClaimedDelivery,
    started_at: Timestamp,
    jitter: f64,
) -> (AttemptRecord, AttemptOutcome) {
    let mut sent_headers = Vec::new();
    let report = match (&claim.payload, url::Url::parse(&claim.url)) {
        (None, _) => SendReport::not_sent(FailureCode::Other, "message content was expunged"),
        (_, Err(error)) => {
            SendReport::not_sent(FailureCode::InvalidUrl, &format!("invalid url: {error}"))
        }
        (Some(body), Ok(url)) => {
            let headers = signed_headers(claim, body, started_at.timestamp(), policy.svix_headers);
            sent_headers = redacted(&headers);
            let request = OutboundRequest {
                url,
                headers,
                body: Bytes::from(body.clone()),
            };
            client.send(request).await
        }
    };
    let details = AttemptDetails {
        request_headers: sent_headers,
        response_headers: report.response_headers.clone(),
        node_id: policy.node_id.clone(),
    };
    let attempts_made = claim.attempts_made + 1;
    let schedule = claim
        .options
        .retry_schedule
        .as_ref()
        .unwrap_or(&policy.retry_schedule);
    let next = next_step(
        &report.outcome,
        claim.trigger_type,
        schedule,
        attempts_made,
        started_at + report.duration,
        jitter,
    );
    let record = AttemptRecord {
        delivery_id: claim.delivery_id.clone(),
        lease_token: claim.lease_token,
        attempt_number: attempts_made,
        attempt: attempt_from_report(claim, &report, started_at, details),
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

/// Header names whose values are credentials; an attempt's record keeps the name only.
fn is_credential(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "authorization"
        || name == "proxy-authorization"
        || name == "cookie"
        || ["secret", "token", "password", "api-key", "apikey"]
            .iter()
            .any(|word| name.contains(word))
}

/// The request headers as the attempt's record keeps them: credentials replaced.
pub fn redacted(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if is_credential(name) {
                "[redacted]".to_owned()
            } else {
                value.clone()
            };
            (name.clone(), value)
        })
        .collect()
}

fn attempt_from_report(
    claim: &ClaimedDelivery,
    report: &SendReport,
    started_at: Timestamp,
    details: AttemptDetails,
) -> Attempt {
    let (status, failure_code) = match &report.outcome {
        AttemptOutcome::Delivered { .. } => (DeliveryStatus::Success, None),
        AttemptOutcome::Failed { code, .. } => {
            (DeliveryStatus::Fail, Some(code.as_str().to_owned()))
        }
    };
    Attempt {
        id: AttemptId::generate(started_at, rand::random()),
        app_id: claim.app_id.clone(),
        msg_id: claim.msg_id.clone(),
        endpoint_id: claim.endpoint_id.clone(),
        url: claim.url.clone(),
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

    #[test]
    fn credentials_are_redacted_in_the_record() {
        let sent: Vec<(String, String)> = [
            ("Authorization", "Bearer t0k"),
            ("x-api-key", "k"),
            ("X-Session-Token", "s"),
            ("webhook-id", "msg_1"),
            ("x-team", "core"),
        ]
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
        let recorded = redacted(&sent);
        let kept: Vec<&str> = recorded.iter().map(|(_, value)| value.as_str()).collect();
        assert_eq!(
            kept,
            ["[redacted]", "[redacted]", "[redacted]", "msg_1", "core"]
        );
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
