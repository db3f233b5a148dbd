//! Spans from an API request to the store's commit to the delivery attempts, with the ids as
//! fields: a capturing `tracing` layer watches one message go through hookd in-process, and a
//! loopback OTLP collector receives the same spans from the `hookd` binary with
//! `--otlp-endpoint`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::json;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use crate::harness::{HookdProcess, Receiver, Reply, TOKEN, TestApp, free_port};

const WAIT: Duration = Duration::from_secs(20);

/// One span as the capturing layer saw it. `serial` numbers spans for good (a `tracing` id is
/// reused once its span closes).
#[derive(Debug, Clone, Default)]
struct Captured {
    serial: u64,
    name: &'static str,
    parent: Option<u64>,
    follows_from: Vec<u64>,
    fields: HashMap<String, String>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Every span opened anywhere in this test process, on every thread.
#[derive(Clone, Default)]
struct SpanLog {
    spans: Arc<Mutex<Vec<Captured>>>,
    next_serial: Arc<AtomicU64>,
}

struct Serial(u64);

struct FieldVisitor<'a>(&'a mut HashMap<String, String>);

impl tracing::field::Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl SpanLog {
    fn serial_of<S>(ctx: &Context<'_, S>, id: &Id) -> Option<u64>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let span = ctx.span(id)?;
        let extensions = span.extensions();
        extensions.get::<Serial>().map(|serial| serial.0)
    }

    fn update(&self, serial: u64, change: impl FnOnce(&mut Captured)) {
        let mut spans = self.spans.lock().unwrap();
        if let Some(span) = spans.iter_mut().find(|span| span.serial == serial) {
            change(span);
        }
    }

    fn snapshot(&self) -> Vec<Captured> {
        self.spans.lock().unwrap().clone()
    }
}

impl<S> Layer<S> for SpanLog
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        let parent = if let Some(parent) = attrs.parent() {
            Self::serial_of(&ctx, parent)
        } else if attrs.is_contextual() {
            ctx.lookup_current()
                .and_then(|current| Self::serial_of(&ctx, &current.id()))
        } else {
            None
        };
        let mut fields = HashMap::new();
        attrs.record(&mut FieldVisitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Serial(serial));
        }
        self.spans.lock().unwrap().push(Captured {
            serial,
            name: attrs.metadata().name(),
            parent,
            follows_from: Vec::new(),
            fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(serial) = Self::serial_of(&ctx, id) {
            self.update(serial, |span| {
                values.record(&mut FieldVisitor(&mut span.fields))
            });
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        if let (Some(serial), Some(follows)) =
            (Self::serial_of(&ctx, id), Self::serial_of(&ctx, follows))
        {
            self.update(serial, |span| span.follows_from.push(follows));
        }
    }
}

/// The process's span log, installed as the global subscriber on first use (nextest runs each
/// test in a process of its own; under `cargo test` the tests share it, and each looks only at
/// spans with its own ids).
fn span_log() -> SpanLog {
    static LOG: OnceLock<SpanLog> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = SpanLog::default();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::INFO)
            .with(log.clone());
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in this test process");
        log
    })
    .clone()
}

fn one<'a>(spans: &'a [Captured], what: &str, matches: impl Fn(&Captured) -> bool) -> &'a Captured {
    let found: Vec<&Captured> = spans.iter().filter(|span| matches(span)).collect();
    assert_eq!(found.len(), 1, "{what}: {found:#?}");
    found[0]
}

#[tokio::test]
async fn one_message_is_traced_from_its_request_to_its_commit_and_attempts() {
    let log = span_log();
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![Reply::status(503)]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let response = app
        .http
        .post(app.url(&format!("/app/{app_id}/msg")))
        .bearer_auth(TOKEN)
        .header("x-request-id", "trace-me-1")
        .json(&json!({"eventType": "invoice.paid", "payload": {"secret_amount": 42}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let msg_id = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    receiver.wait_for(2, WAIT).await;
    app.wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 2)
        .await;

    let spans = log.snapshot();
    let request = one(&spans, "the request span", |span| {
        span.name == "request" && span.field("request_id") == Some("trace-me-1")
    });
    assert_eq!(request.field("method"), Some("POST"));
    assert_eq!(request.field("route"), Some("/api/v1/app/{app_id}/msg"));

    let create = one(&spans, "the operation's span", |span| {
        span.name == "ops.create_message" && span.field("msg_id") == Some(msg_id.as_str())
    });
    assert_eq!(create.parent, Some(request.serial), "{create:?}");
    assert_eq!(create.field("app_id"), Some(app_id.as_str()));

    let commit = one(&spans, "the commit that holds the message", |span| {
        span.name == "store.commit" && span.follows_from.contains(&create.serial)
    });
    assert_eq!(commit.parent, None, "a batch commit is a root: {commit:?}");
    assert_eq!(commit.field("backend"), Some("sqlite"));
    assert_eq!(commit.field("committed"), Some("true"));
    let jobs: usize = commit.field("jobs").unwrap().parse().unwrap();
    assert!(jobs >= 1, "{commit:?}");

    let mut attempts: Vec<&Captured> = spans
        .iter()
        .filter(|span| span.name == "delivery.attempt" && span.field("msg_id") == Some(&msg_id))
        .collect();
    attempts.sort_by_key(|span| span.field("attempt").map(str::to_owned));
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    for (attempt, (number, outcome, failure_code, status)) in attempts.iter().zip([
        ("1", "failed", Some("http_status"), "503"),
        ("2", "delivered", None, "200"),
    ]) {
        assert_eq!(attempt.parent, None, "{attempt:?}");
        assert_eq!(
            attempt.field("app_id"),
            Some(app_id.as_str()),
            "{attempt:?}"
        );
        assert_eq!(attempt.field("endpoint_id"), Some(endpoint_id.as_str()));
        assert_eq!(attempt.field("attempt"), Some(number), "{attempt:?}");
        assert_eq!(attempt.field("outcome"), Some(outcome), "{attempt:?}");
        assert_eq!(attempt.field("failure_code"), failure_code, "{attempt:?}");
        assert_eq!(attempt.field("status"), Some(status), "{attempt:?}");
    }
    assert!(
        spans.iter().any(|span| span.name == "delivery.record"),
        "the recorder's span"
    );
    // Ids, never content: no field of any span holds the payload.
    for span in &spans {
        for value in span.fields.values() {
            assert!(!value.contains("secret_amount"), "{span:?}");
        }
    }
}

/// What the loopback collector was sent: every span of every export, decoded.
type Exported = Arc<Mutex<Vec<opentelemetry_proto::tonic::trace::v1::Span>>>;

async fn start_collector() -> (String, Exported, Arc<Mutex<Vec<String>>>) {
    use axum::body::Bytes;
    use axum::extract::State;
    use prost::Message;

    let spans: Exported = Arc::default();
    let services: Arc<Mutex<Vec<String>>> = Arc::default();
    let state = (Arc::clone(&spans), Arc::clone(&services));
    let collect = |State((spans, services)): State<(Exported, Arc<Mutex<Vec<String>>>)>,
                   headers: axum::http::HeaderMap,
                   body: Bytes| async move {
        assert_eq!(
            headers["content-type"], "application/x-protobuf",
            "OTLP over HTTP/protobuf"
        );
        let request =
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
                body,
            )
            .expect("an OTLP protobuf export");
        for resource_spans in request.resource_spans {
            let resource = resource_spans.resource.unwrap_or_default();
            for attribute in resource.attributes {
                if attribute.key == "service.name" {
                    services
                        .lock()
                        .unwrap()
                        .push(format!("{:?}", attribute.value));
                }
            }
            for scope_spans in resource_spans.scope_spans {
                spans.lock().unwrap().extend(scope_spans.spans);
            }
        }
        (
            [("content-type", "application/x-protobuf")],
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::default()
                .encode_to_vec(),
        )
    };
    let router = axum::Router::new()
        .route("/v1/traces", axum::routing::post(collect))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, spans, services)
}

fn string_attribute(
    span: &opentelemetry_proto::tonic::trace::v1::Span,
    key: &str,
) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    span.attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref()?.value.clone())
        .map(|value| match value {
            Value::StringValue(text) => text,
            other => format!("{other:?}"),
        })
}

#[tokio::test]
async fn spans_are_exported_over_otlp_and_flushed_at_shutdown() {
    let (collector, exported, services) = start_collector().await;
    let receiver = Receiver::start(vec![]).await;
    let data_dir = tempfile::tempdir().unwrap();
    let mut hookd = HookdProcess::start(
        free_port(),
        &[
            "--data-dir",
            data_dir.path().to_str().unwrap(),
            "--allow-private-targets",
            "--otlp-endpoint",
            &collector,
        ],
    );
    let http = reqwest::Client::new();
    hookd.wait_ready(&http).await;
    let post = |path: String, body: serde_json::Value| {
        http.post(format!("{}{path}", hookd.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let app: serde_json::Value = post("/app".into(), json!({"name": "otlp"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_id = app["id"].as_str().unwrap().to_owned();
    let created = post(
        format!("/app/{app_id}/endpoint"),
        json!({"url": receiver.url}),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let message: serde_json::Value = post(
        format!("/app/{app_id}/msg"),
        json!({"eventType": "a.b", "payload": {}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let msg_id = message["id"].as_str().unwrap().to_owned();
    receiver.wait_for(1, WAIT).await;
    // The attempt's span ends before its record is written; give the recorder a moment,
    // then stop hookd as SIGTERM does: what is still batched is flushed on the way out.
    let attempts_url = format!("{}/app/{app_id}/attempt/msg/{msg_id}", hookd.base);
    let deadline = Instant::now() + WAIT;
    loop {
        let page: serde_json::Value = http
            .get(&attempts_url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["data"].as_array().is_some_and(|data| !data.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "no attempt recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sigterm(hookd.child.id());
    // Waited for off the runtime: the collector must keep answering while hookd flushes.
    let status = tokio::task::spawn_blocking(move || {
        let status = hookd.child.wait().unwrap();
        (hookd, status)
    })
    .await
    .unwrap()
    .1;
    assert!(status.success(), "hookd exits cleanly: {status:?}");

    let spans = exported.lock().unwrap().clone();
    let named = |name: &str| -> Vec<&opentelemetry_proto::tonic::trace::v1::Span> {
        spans.iter().filter(|span| span.name == name).collect()
    };
    let create = named("ops.create_message");
    let create: Vec<_> = create
        .into_iter()
        .filter(|span| string_attribute(span, "msg_id").as_deref() == Some(&msg_id))
        .collect();
    assert_eq!(
        create.len(),
        1,
        "ops.create_message of {msg_id} in {spans:#?}"
    );
    let create = create[0];
    let request = named("request")
        .into_iter()
        .find(|span| span.span_id == create.parent_span_id)
        .expect("the operation's parent is the request span");
    assert_eq!(request.trace_id, create.trace_id);
    assert_eq!(
        string_attribute(request, "route").as_deref(),
        Some("/api/v1/app/{app_id}/msg")
    );
    let commit = named("store.commit")
        .into_iter()
        .find(|span| span.links.iter().any(|link| link.span_id == create.span_id))
        .expect("a commit span linked to the operation");
    assert!(
        commit.parent_span_id.is_empty(),
        "the commit is a root span"
    );
    let attempt = named("delivery.attempt")
        .into_iter()
        .find(|span| string_attribute(span, "msg_id").as_deref() == Some(&msg_id))
        .expect("the attempt's span");
    assert_eq!(
        string_attribute(attempt, "outcome").as_deref(),
        Some("delivered")
    );
    assert_eq!(
        string_attribute(attempt, "app_id").as_deref(),
        Some(app_id.as_str())
    );
    let services = services.lock().unwrap().clone();
    assert!(
        !services.is_empty() && services.iter().all(|service| service.contains("\"hookd\"")),
        "{services:?}"
    );
}

/// Sends SIGTERM to the child with this pid, as an orchestrator stopping hookd would.
fn sigterm(pid: u32) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -TERM {pid}: {sent:?}");
}
