//! The Prometheus series hookd records, and the one registry that holds them.
//!
//! `Instruments` is built once per server (`app::start`) and passed explicitly to the parts that
//! record: there is no global recorder, so several servers in one process (the tests' nodes)
//! keep their own counts. Each series is registered here, once, as a `metrics` handle (an
//! atomic behind an `Arc`); recording is an atomic add, never a lookup, on the paths every
//! message crosses. The only series registered on demand are the HTTP counters, one per route
//! template and status class, looked up in the registry per request.
//!
//! Labels are bounded by the code, never by data: outcomes, failure codes, verdicts and reason
//! codes are enums' spellings, routes are the router's templates (`MatchedPath`), status codes
//! are classes. No application, endpoint, source or message id is ever a label.
//!
//! This module renders nothing over HTTP and reads no store: `api` serves `render`, the
//! engine's sampler sets the queue gauges.

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::policy::outcome::FailureCode;

/// Histogram buckets of durations, in seconds: from a loopback answer to a delivery timeout.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Histogram buckets of write-batch sizes, in jobs or messages.
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 2048.0,
];

/// Every series hookd records, registered in one Prometheus registry. Cheap to share (`Arc`).
pub struct Instruments {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    /// `hookd_messages_accepted_total{via="api"}`.
    pub messages_accepted_api: Counter,
    /// `hookd_messages_accepted_total{via="inbound"}`.
    pub messages_accepted_inbound: Counter,
    pub inbound: InboundCounters,
    pub attempts: AttemptInstruments,
    /// `hookd_queue_pending_deliveries`: deliveries waiting to be delivered (sampled).
    pub queue_pending: Gauge,
    /// `hookd_queue_oldest_due_age_seconds`: how long the longest-waiting claimable work has
    /// been due (sampled).
    pub queue_oldest_due_age: Gauge,
    /// `hookd_endpoints_resting`: endpoints in a circuit-breaker or `Retry-After` rest (sampled).
    pub endpoints_resting: Gauge,
    /// `hookd_endpoints_disabled` (sampled).
    pub endpoints_disabled: Gauge,
    /// `hookd_engine_heartbeat_age_seconds`: since the delivery loop last went round (set
    /// when rendered).
    pub engine_heartbeat_age: Gauge,
    /// The rate limit's refusals: `hookd_api_rate_limited_total`.
    pub api_rate_limited: Counter,
    /// Rejected inbound requests answered but not kept in the request log, past their
    /// source's budget: `hookd_inbound_rejections_unlogged_total`.
    pub inbound_rejections_unlogged: Counter,
}

/// Counters of inbound requests, by verdict and (for rejections) reason code.
pub struct InboundCounters {
    forwarded: Counter,
    duplicate: Counter,
    challenge: Counter,
    recorder: Arc<PrometheusRecorder>,
}

/// What the engine records per attempt.
pub struct AttemptInstruments {
    /// `hookd_delivery_attempts_total{outcome="delivered",failure_code="none"}`.
    delivered: Counter,
    /// One per `FailureCode::ALL`, in its order.
    failed: Vec<Counter>,
    /// `hookd_delivery_attempt_duration_seconds{outcome=...}`.
    delivered_duration: Histogram,
    failed_duration: Histogram,
    /// `hookd_delivery_attempts_in_flight`.
    pub in_flight: Gauge,
    /// `hookd_delivery_attempts_stopped_total`: stopped because the lease was lost.
    pub stopped: Counter,
}

/// A write batcher's instruments (`store`): commit latency and batch size for one backend.
#[derive(Clone)]
pub struct CommitInstruments {
    /// `hookd_db_commit_duration_seconds{backend}`: from a batch's `BEGIN` to its commit.
    pub duration: Histogram,
    /// `hookd_db_commit_batch_size{backend}`: jobs (SQLite) or messages (PostgreSQL) per commit.
    pub batch_size: Histogram,
}

impl CommitInstruments {
    /// Instruments that record nothing, for a store opened outside a server (tests, `migrate`).
    pub fn unrecorded() -> Self {
        CommitInstruments {
            duration: Histogram::noop(),
            batch_size: Histogram::noop(),
        }
    }
}

impl Default for Instruments {
    fn default() -> Self {
        Self::new()
    }
}

impl Instruments {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full("hookd_db_commit_batch_size".into()),
                    BATCH_BUCKETS,
                )
            })
            .expect("the bucket lists are not empty")
            .build_recorder();
        describe_all(&recorder);
        let recorder = Arc::new(recorder);
        let handle = recorder.handle();
        let counter = |name: &'static str, labels: &[(&'static str, &'static str)]| {
            recorder.register_counter(&key(name, labels), &metadata())
        };
        let gauge = |name: &'static str| recorder.register_gauge(&key(name, &[]), &metadata());
        let histogram = |name: &'static str, labels: &[(&'static str, &'static str)]| {
            recorder.register_histogram(&key(name, labels), &metadata())
        };
        let inbound = |verdict| counter(INBOUND, &[("verdict", verdict), ("reason", "none")]);
        let attempts = AttemptInstruments {
            delivered: counter(
                ATTEMPTS,
                &[("outcome", "delivered"), ("failure_code", "none")],
            ),
            failed: FailureCode::ALL
                .iter()
                .map(|code| {
                    counter(
                        ATTEMPTS,
                        &[("outcome", "failed"), ("failure_code", code.as_str())],
                    )
                })
                .collect(),
            delivered_duration: histogram(ATTEMPT_DURATION, &[("outcome", "delivered")]),
            failed_duration: histogram(ATTEMPT_DURATION, &[("outcome", "failed")]),
            in_flight: gauge("hookd_delivery_attempts_in_flight"),
            stopped: counter("hookd_delivery_attempts_stopped_total", &[]),
        };
        Instruments {
            messages_accepted_api: counter(MESSAGES_ACCEPTED, &[("via", "api")]),
            messages_accepted_inbound: counter(MESSAGES_ACCEPTED, &[("via", "inbound")]),
            inbound: InboundCounters {
                forwarded: inbound("forwarded"),
                duplicate: inbound("duplicate"),
                challenge: inbound("challenge"),
                recorder: Arc::clone(&recorder),
            },
            attempts,
            queue_pending: gauge("hookd_queue_pending_deliveries"),
            queue_oldest_due_age: gauge("hookd_queue_oldest_due_age_seconds"),
            endpoints_resting: gauge("hookd_endpoints_resting"),
            endpoints_disabled: gauge("hookd_endpoints_disabled"),
            engine_heartbeat_age: gauge("hookd_engine_heartbeat_age_seconds"),
            api_rate_limited: counter("hookd_api_rate_limited_total", &[]),
            inbound_rejections_unlogged: counter("hookd_inbound_rejections_unlogged_total", &[]),
            handle,
            recorder,
        }
    }

    /// The instruments of one backend's write batcher.
    pub fn commits(&self, backend: &'static str) -> CommitInstruments {
        let labels = [("backend", backend)];
        CommitInstruments {
            duration: self
                .recorder
                .register_histogram(&key(COMMIT_DURATION, &labels), &metadata()),
            batch_size: self
                .recorder
                .register_histogram(&key(COMMIT_BATCH_SIZE, &labels), &metadata()),
        }
    }

    /// Counts one answered HTTP request by its route template (the router's, or `(no route)`)
    /// and its status class.
    pub fn http_request_answered(&self, route: &str, status: u16) {
        let labels = vec![
            Label::new("route", route.to_owned()),
            Label::from_static_parts("status_class", status_class(status)),
        ];
        self.recorder
            .register_counter(&Key::from_parts(HTTP_REQUESTS, labels), &metadata())
            .increment(1);
    }

    /// Every series in Prometheus's text format.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Drains histogram samples into their buckets; run periodically, so that memory stays
    /// bounded between scrapes.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}

impl InboundCounters {
    pub fn forwarded(&self) {
        self.forwarded.increment(1);
    }

    pub fn duplicate(&self) {
        self.duplicate.increment(1);
    }

    pub fn challenge(&self) {
        self.challenge.increment(1);
    }

    /// A rejection, by its stable reason code (a bounded set: the verifier's codes).
    pub fn rejected(&self, reason: &'static str) {
        self.recorder
            .register_counter(
                &key(INBOUND, &[("verdict", "rejected"), ("reason", reason)]),
                &metadata(),
            )
            .increment(1);
    }
}

impl AttemptInstruments {
    /// Counts a finished attempt by outcome and failure code, and records how long it took.
    pub fn finished(&self, failure: Option<FailureCode>, took: std::time::Duration) {
        match failure {
            None => {
                self.delivered.increment(1);
                self.delivered_duration.record(took.as_secs_f64());
            }
            Some(code) => {
                let index = FailureCode::ALL
                    .iter()
                    .position(|known| *known == code)
                    .expect("FailureCode::ALL lists every code");
                self.failed[index].increment(1);
                self.failed_duration.record(took.as_secs_f64());
            }
        }
    }
}

const MESSAGES_ACCEPTED: &str = "hookd_messages_accepted_total";
const INBOUND: &str = "hookd_inbound_requests_total";
const ATTEMPTS: &str = "hookd_delivery_attempts_total";
const ATTEMPT_DURATION: &str = "hookd_delivery_attempt_duration_seconds";
const COMMIT_DURATION: &str = "hookd_db_commit_duration_seconds";
const COMMIT_BATCH_SIZE: &str = "hookd_db_commit_batch_size";
const HTTP_REQUESTS: &str = "hookd_http_requests_total";

/// What each series means, as `# HELP` says it.
fn describe_all(recorder: &PrometheusRecorder) {
    let counters: &[(&'static str, &'static str)] = &[
        (
            MESSAGES_ACCEPTED,
            "Messages committed, by how they arrived (api, inbound).",
        ),
        (
            INBOUND,
            "Inbound requests answered, by verdict and rejection reason.",
        ),
        (
            ATTEMPTS,
            "Delivery attempts finished, by outcome and failure code.",
        ),
        (
            "hookd_delivery_attempts_stopped_total",
            "Attempts stopped because their lease was lost.",
        ),
        (
            HTTP_REQUESTS,
            "HTTP requests answered, by route template and status class.",
        ),
        (
            "hookd_api_rate_limited_total",
            "API requests refused by the per-token rate limit.",
        ),
        (
            "hookd_inbound_rejections_unlogged_total",
            "Rejected inbound requests not kept in the request log (past the source's budget).",
        ),
    ];
    for (name, help) in counters {
        recorder.describe_counter(KeyName::from_const_str(name), None, (*help).into());
    }
    let gauges: &[(&'static str, Option<Unit>, &'static str)] = &[
        (
            "hookd_delivery_attempts_in_flight",
            None,
            "Delivery attempts running on this node.",
        ),
        (
            "hookd_queue_pending_deliveries",
            None,
            "Deliveries waiting to be delivered, all nodes.",
        ),
        (
            "hookd_queue_oldest_due_age_seconds",
            Some(Unit::Seconds),
            "How long the oldest claimable work has been due (0 when none is).",
        ),
        (
            "hookd_endpoints_resting",
            None,
            "Endpoints resting after failures or a Retry-After.",
        ),
        ("hookd_endpoints_disabled", None, "Disabled endpoints."),
        (
            "hookd_engine_heartbeat_age_seconds",
            Some(Unit::Seconds),
            "Time since this node's delivery loop last went round.",
        ),
    ];
    for (name, unit, help) in gauges {
        recorder.describe_gauge(KeyName::from_const_str(name), *unit, (*help).into());
    }
    let histograms: &[(&'static str, Option<Unit>, &'static str)] = &[
        (
            ATTEMPT_DURATION,
            Some(Unit::Seconds),
            "Delivery attempt duration, by outcome.",
        ),
        (
            COMMIT_DURATION,
            Some(Unit::Seconds),
            "Write batch duration, BEGIN to commit.",
        ),
        (COMMIT_BATCH_SIZE, None, "Writes per committed batch."),
    ];
    for (name, unit, help) in histograms {
        recorder.describe_histogram(KeyName::from_const_str(name), *unit, (*help).into());
    }
}

fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(name, value)| Label::from_static_parts(name, value))
        .collect();
    Key::from_parts(name, labels)
}

fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()))
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_series_render_before_anything_is_recorded() {
        let instruments = Instruments::new();
        let text = instruments.render();
        assert!(
            text.contains(
                "hookd_delivery_attempts_total{outcome=\"failed\",failure_code=\"timeout\"} 0"
            ),
            "{text}"
        );
        assert!(text.contains("hookd_queue_pending_deliveries 0"), "{text}");
    }

    #[test]
    fn two_servers_count_apart() {
        let (first, second) = (Instruments::new(), Instruments::new());
        first.messages_accepted_api.increment(2);
        assert!(
            first
                .render()
                .contains("hookd_messages_accepted_total{via=\"api\"} 2")
        );
        assert!(
            second
                .render()
                .contains("hookd_messages_accepted_total{via=\"api\"} 0")
        );
    }

    #[test]
    fn status_classes() {
        for (status, class) in [
            (101, "1xx"),
            (200, "2xx"),
            (304, "3xx"),
            (429, "4xx"),
            (503, "5xx"),
        ] {
            assert_eq!(status_class(status), class);
        }
    }
}
