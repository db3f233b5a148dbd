//! Inbound: verified provider requests accepted per second at a source's ingest URL, the
//! inbound twin of `ingest`. For each provider (Stripe, GitHub, Standard Webhooks) a fresh hookd
//! gets one source, with no ingest endpoint (verification, dedupe and the request record alone)
//! or with one endpoint at the receiver (the accepted event is also forwarded through the
//! engine). A closed loop of clients posts correctly signed requests with unique delivery ids,
//! so none is deduplicated; an answer other than 200 `accepted` counts as an error.
//!
//! Every request is signed before the timed phase starts, so the figures hold hookd's cost of
//! verifying, not the client's cost of signing. The signatures carry the time they were made, and
//! hookd refuses timestamps older than five minutes, so a case stops starting requests after
//! `SIGNATURE_FRESHNESS`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::json;

use super::{Bench, Scenario, add_load_errors};
use crate::hookd_api::payload;
use crate::load::{ClosedLoop, run_closed_loop};
use crate::receiver::Receiver;
use crate::report::Percentiles;

/// (concurrent clients, ingest endpoints) of each case: the same as ingest's `c64-no-endpoint`
/// and `c256-1-endpoint`, so the two tables compare row for row.
const CASES: [(usize, u32); 2] = [(64, 0), (256, 1)];

/// Longest time a case keeps starting requests: inside hookd's five-minute timestamp tolerance
/// (`webhook_signature::DEFAULT_TOLERANCE_SECS`), with a margin for the slowest answers.
const SIGNATURE_FRESHNESS: Duration = Duration::from_secs(240);

/// Longest any one provider request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The providers measured, one verification scheme each.
#[derive(Debug, Clone, Copy)]
enum Provider {
    /// `Stripe-Signature: t=..,v1=..`, HMAC over `"{t}.{body}"`; dedupe on the body's `id`.
    Stripe,
    /// `X-Hub-Signature-256`, HMAC over the body; dedupe on `X-GitHub-Delivery`.
    GitHub,
    /// `webhook-id`/`webhook-timestamp`/`webhook-signature` with a base64 `whsec_` key.
    StandardWebhooks,
}

impl Provider {
    const ALL: [Provider; 3] = [
        Provider::Stripe,
        Provider::GitHub,
        Provider::StandardWebhooks,
    ];

    /// The source `type` in hookd's API.
    fn source_type(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::GitHub => "github",
            Provider::StandardWebhooks => "standard-webhooks",
        }
    }

    /// The secret the source verifies with (Standard Webhooks needs base64 key material).
    fn secret(self) -> &'static str {
        match self {
            Provider::Stripe => "whsec_hookd_bench_stripe_signing_secret",
            Provider::GitHub => "hookd-bench-github-webhook-secret",
            Provider::StandardWebhooks => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        }
    }

    /// Request number `sequence` as the provider would send it at `timestamp`: the bench's
    /// 1 KiB payload with the provider's event id and type, and the signed headers.
    fn signed_request(self, sequence: u64, timestamp: i64) -> anyhow::Result<SignedRequest> {
        let delivery_id = format!("evt_bench_{sequence}");
        let mut event = payload(sequence);
        event["id"] = json!(delivery_id);
        let body = event.to_string().into_bytes();
        let secret = self.secret();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut add = |name: &'static str, value: String| -> anyhow::Result<()> {
            headers.insert(HeaderName::from_static(name), HeaderValue::try_from(value)?);
            Ok(())
        };
        match self {
            Provider::Stripe => add(
                "stripe-signature",
                webhook_signature::stripe::sign(secret.as_bytes(), timestamp, &body),
            )?,
            Provider::GitHub => {
                add(
                    "x-hub-signature-256",
                    webhook_signature::github::sign(secret.as_bytes(), &body),
                )?;
                add("x-github-delivery", delivery_id)?;
                add("x-github-event", "push".to_owned())?;
            }
            Provider::StandardWebhooks => {
                let key = webhook_signature::Secret::parse(secret)
                    .context("the Standard Webhooks bench secret")?;
                let signature =
                    webhook_signature::signature_header(&[&key], &delivery_id, timestamp, &body);
                add("webhook-id", delivery_id)?;
                add("webhook-timestamp", timestamp.to_string())?;
                add("webhook-signature", signature)?;
            }
        }
        Ok(SignedRequest { headers, body })
    }
}

/// One provider request, ready to send.
struct SignedRequest {
    headers: HeaderMap,
    body: Vec<u8>,
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    for provider in Provider::ALL {
        for (clients, endpoints) in CASES {
            run_case(bench, provider, clients, endpoints).await?;
        }
    }
    Ok(())
}

async fn run_case(
    bench: &mut Bench,
    provider: Provider,
    clients: usize,
    endpoints: u32,
) -> anyhow::Result<()> {
    let receiver = Receiver::start().await?;
    let (hookd, api) = bench.start_hookd(&[]).await?;
    let source = api
        .create_source(provider.source_type(), provider.secret())
        .await?;
    for endpoint in 0..endpoints {
        api.create_ingest_endpoint(&source.id, &receiver.endpoint_url(endpoint))
            .await?;
    }

    let total = bench.sizes.inbound_requests;
    let timestamp = unix_now();
    let requests: Arc<Vec<SignedRequest>> = Arc::new(
        (0..total)
            .map(|sequence| provider.signed_request(sequence, timestamp))
            .collect::<anyhow::Result<_>>()?,
    );
    let shape = ClosedLoop {
        concurrency: clients,
        total,
        time_limit: bench.sizes.phase_time_limit.min(SIGNATURE_FRESHNESS),
    };
    let http = bench.http.clone();
    let url: Arc<str> = source.ingest_url.into();
    let meter = hookd.cpu_meter()?;
    let run = run_closed_loop(provider.source_type(), shape, move |sequence| {
        post_signed(
            http.clone(),
            Arc::clone(&url),
            Arc::clone(&requests),
            sequence,
        )
    })
    .await;
    let phase_cpu = meter.read()?;
    let usage = hookd.stop().await?;

    let name = provider.source_type();
    let (key, case) = match endpoints {
        0 => (
            format!("inbound/{name}-c{clients}-no-endpoint"),
            format!("{name}, {clients} clients, no endpoint"),
        ),
        _ => (
            format!("inbound/{name}-c{clients}-{endpoints}-endpoint"),
            format!("{name}, {clients} clients, {endpoints} receiver endpoint"),
        ),
    };
    let mut result = bench.new_case(Scenario::Inbound, &key, case, "requests");
    result.count = run.completed.len() as u64;
    result.rate_per_sec = run.rate();
    result.elapsed_secs = run.elapsed.as_secs_f64();
    result.latency = Percentiles::of(run.request_latencies());
    result.hookd = Some(usage);
    result.phase_cpu = Some(phase_cpu);
    if endpoints > 0 {
        result.details.insert(
            "forwarded while receiving".into(),
            json!(receiver.arrival_count()),
        );
    }
    add_load_errors(&mut result, &run);
    bench.record(result);
    Ok(())
}

/// Posts request number `sequence` to the ingest URL; succeeds only on 200 `accepted` (a
/// `duplicate` would mean the bench reused a delivery id and measured the short path).
async fn post_signed(
    http: reqwest::Client,
    url: Arc<str>,
    requests: Arc<Vec<SignedRequest>>,
    sequence: u64,
) -> anyhow::Result<()> {
    let request = usize::try_from(sequence)
        .ok()
        .and_then(|index| requests.get(index))
        .context("no signed request for this sequence number")?;
    let response = http
        .post(&*url)
        .headers(request.headers.clone())
        .body(request.body.clone())
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await?;
    let status = response.status();
    let answer = response.text().await?;
    if status != reqwest::StatusCode::OK {
        bail!("hookd answered {status}: {answer}");
    }
    let verdict: serde_json::Value = serde_json::from_str(&answer)?;
    if verdict["status"] != "accepted" {
        bail!("hookd answered 200 but not accepted: {answer}");
    }
    Ok(())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each provider's precomputed request verifies with that provider's scheme and secret, and
    /// carries a delivery id of its own, so hookd neither refuses nor deduplicates it.
    #[test]
    fn signed_requests_verify_and_have_unique_delivery_ids() {
        let timestamp = unix_now();
        for provider in Provider::ALL {
            let secret = provider.secret().as_bytes();
            let mut delivery_ids = std::collections::HashSet::new();
            for sequence in [0, 1, 77_777] {
                let request = provider.signed_request(sequence, timestamp).unwrap();
                let header = |name: &str| request.headers[name].to_str().unwrap().to_owned();
                let body = &request.body;
                let verified = match provider {
                    Provider::Stripe => webhook_signature::stripe::verify(
                        secret,
                        &header("stripe-signature"),
                        body,
                        timestamp,
                        webhook_signature::DEFAULT_TOLERANCE_SECS,
                    ),
                    Provider::GitHub => webhook_signature::github::verify(
                        secret,
                        &header("x-hub-signature-256"),
                        body,
                    ),
                    Provider::StandardWebhooks => {
                        let key = webhook_signature::Secret::parse(provider.secret()).unwrap();
                        webhook_signature::verify(
                            &[key],
                            &header("webhook-id"),
                            &header("webhook-timestamp"),
                            &header("webhook-signature"),
                            body,
                            timestamp,
                            webhook_signature::DEFAULT_TOLERANCE_SECS,
                        )
                    }
                };
                assert!(verified.is_ok(), "{provider:?} #{sequence}: {verified:?}");
                let event: serde_json::Value = serde_json::from_slice(body).unwrap();
                let delivery_id = match provider {
                    Provider::Stripe => event["id"].as_str().unwrap().to_owned(),
                    Provider::GitHub => header("x-github-delivery"),
                    Provider::StandardWebhooks => header("webhook-id"),
                };
                assert!(delivery_ids.insert(delivery_id), "{provider:?} #{sequence}");
            }
        }
    }
}
