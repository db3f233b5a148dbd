//! `GET /metrics` after real traffic: the series move as the traffic says, parsed from the
//! Prometheus text format; labels carry no ids; `--metrics-token` guards the route.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Receiver, TestApp, TestClient};
use crate::inbound::{deliver, source_with_endpoint};

const WAIT: Duration = Duration::from_secs(15);

/// One scrape: every sample by its series (`name{label="value",...}` as rendered).
pub(crate) struct Scrape {
    pub text: String,
    samples: HashMap<String, f64>,
}

impl Scrape {
    pub(crate) fn parse(text: String) -> Scrape {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("a sample line: series value");
                let value = match value {
                    "NaN" => f64::NAN,
                    "+Inf" => f64::INFINITY,
                    value => value
                        .parse()
                        .unwrap_or_else(|_| panic!("a number in {line:?}")),
                };
                (series.to_owned(), value)
            })
            .collect();
        Scrape { text, samples }
    }

    /// The value of `name` with exactly these labels, in the order hookd renders them.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let series = if labels.is_empty() {
            name.to_owned()
        } else {
            let labels: Vec<String> = labels
                .iter()
                .map(|(label, value)| format!("{label}=\"{value}\""))
                .collect();
            format!("{name}{{{}}}", labels.join(","))
        };
        self.samples.get(&series).copied()
    }
}

impl TestClient {
    pub(crate) async fn scrape(&self) -> Scrape {
        let response = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("hookd answers /metrics");
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        Scrape::parse(response.text().await.unwrap())
    }
}

#[tokio::test]
async fn metrics_move_with_deliveries_inbound_rejections_and_unknown_routes() {
    let app = TestApp::spawn().await;
    let before = app.scrape().await;
    assert_eq!(
        before.value("hookd_messages_accepted_total", &[("via", "api")]),
        Some(0.0)
    );

    // A message delivered at the first attempt.
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let msg_id = app.send_message(&app_id, json!({"n": 1})).await;
    app.wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 1)
        .await;
    // An inbound request rejected (its body is not text).
    let (_, ingest_url, _) =
        source_with_endpoint(&app, "generic-webhook", json!({}), &receiver).await;
    let (status, _) = deliver(&ingest_url, &[], b"\xff\xfe").await;
    assert_eq!(status, 415);
    // A route that does not exist, and one answered 404 for a missing record.
    let (status, _) = app.get("/no-such-route/abc").await;
    assert_eq!(status, 404);
    let (status, _) = app.get("/app/app_missing").await;
    assert_eq!(status, 404);
    // A disabled endpoint, which the sampler finds.
    let (status, disabled) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": receiver.url, "disabled": true}),
        )
        .await;
    assert_eq!(status, 201, "{disabled}");

    let deadline = Instant::now() + WAIT;
    let scrape = loop {
        let scrape = app.scrape().await;
        if scrape.value("hookd_endpoints_disabled", &[]) == Some(1.0) || Instant::now() > deadline {
            break scrape;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let value = |name: &str, labels: &[(&str, &str)]| {
        scrape
            .value(name, labels)
            .unwrap_or_else(|| panic!("{name} {labels:?} is missing:\n{}", scrape.text))
    };
    assert_eq!(value("hookd_endpoints_disabled", &[]), 1.0);
    assert_eq!(
        value("hookd_messages_accepted_total", &[("via", "api")]),
        1.0
    );
    assert_eq!(
        value("hookd_messages_accepted_total", &[("via", "inbound")]),
        0.0
    );
    assert_eq!(
        value(
            "hookd_delivery_attempts_total",
            &[("outcome", "delivered"), ("failure_code", "none")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "hookd_delivery_attempts_total",
            &[("outcome", "failed"), ("failure_code", "http_status")]
        ),
        0.0
    );
    assert_eq!(
        value(
            "hookd_delivery_attempt_duration_seconds_count",
            &[("outcome", "delivered")]
        ),
        1.0
    );
    assert_eq!(value("hookd_delivery_attempts_in_flight", &[]), 0.0);
    assert_eq!(
        value(
            "hookd_inbound_requests_total",
            &[("verdict", "rejected"), ("reason", "body_not_utf8")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "hookd_inbound_requests_total",
            &[("verdict", "forwarded"), ("reason", "none")]
        ),
        0.0
    );
    assert_eq!(
        value(
            "hookd_http_requests_total",
            &[
                ("route", "/api/v1/app/{app_id}/msg"),
                ("status_class", "2xx")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            "hookd_http_requests_total",
            &[("route", "/api/v1/app/{app_id}"), ("status_class", "4xx")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "hookd_http_requests_total",
            &[("route", "/ingest/in/{token}"), ("status_class", "4xx")]
        ),
        1.0
    );
    assert!(
        value("hookd_db_commit_batch_size_count", &[("backend", "sqlite")]) >= 1.0,
        "every write commits through the writer"
    );
    assert_eq!(value("hookd_queue_pending_deliveries", &[]), 0.0);
    // Labels are bounded: no id, and no raw path, ever appears.
    for unbounded in [
        app_id.as_str(),
        endpoint_id.as_str(),
        msg_id.as_str(),
        "app_missing",
        "no-such-route",
    ] {
        assert!(
            !scrape.text.contains(unbounded),
            "{unbounded} appears in:\n{}",
            scrape.text
        );
    }
    let unmatched: f64 = scrape
        .samples
        .iter()
        .filter(|(series, _)| {
            series
                .starts_with("hookd_http_requests_total{route=\"(no route)\",status_class=\"4xx\"")
        })
        .map(|(_, value)| value)
        .sum();
    assert_eq!(unmatched, 1.0, "{}", scrape.text);
}

#[tokio::test]
async fn the_metrics_token_guards_the_metrics_route() {
    let app =
        TestApp::spawn_with(|config| config.metrics_token = Some("scrape-secret".into())).await;
    let url = format!("{}/metrics", app.base);
    for token in [None, Some("wrong"), Some(crate::harness::TOKEN)] {
        let mut request = app.http.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "with {token:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "authentication_failed", "{body}");
    }
    let response = app
        .http
        .get(&url)
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("hookd_messages_accepted_total")
    );
}
