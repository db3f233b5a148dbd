//! Every answer carries an `x-request-id`, whatever answered it: a handler, an API error, a
//! route that does not exist, the rate limit, the body limit, the ingest URL, the dashboard or
//! `/metrics`. A client's usable id is echoed; a missing, overlong or unsafe one is replaced
//! by a fresh UUID. (That the id is in the access log line is `first_run.rs`'s.)

use std::num::NonZeroU32;

use hookd::api::rate_limit::ApiRateLimit;
use reqwest::Method;

use crate::harness::{TOKEN, TestApp};

/// One kind of answer: how to ask for it, and the status it has.
struct Kind {
    what: &'static str,
    method: Method,
    path: &'static str,
    token: Option<&'static str>,
    body: Option<String>,
    status: u16,
}

fn kind(what: &'static str, method: Method, path: &'static str, status: u16) -> Kind {
    Kind {
        what,
        method,
        path,
        token: Some(TOKEN),
        body: None,
        status,
    }
}

/// What the client sends as `x-request-id`, and whether the answer must echo it.
const SENT_IDS: [(Option<&str>, bool); 6] = [
    (None, false),
    (Some("client-id-5f0c6a8e"), true),
    (Some("4bf92f3577b34da6a3ce929d0e0e4736"), true),
    (Some("two words"), false),
    (Some("<script>alert(1)</script>"), false),
    (Some(LONG_ID), false),
];

/// 129 characters: one past the longest id kept.
const LONG_ID: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
                       aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

async fn check(app: &TestApp, kind: &Kind, sent: Option<&str>, echoed: bool) -> String {
    let mut request = app
        .http
        .request(kind.method.clone(), format!("{}{}", app.base, kind.path));
    if let Some(token) = kind.token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = &kind.body {
        request = request
            .header("content-type", "application/json")
            .body(body.clone());
    }
    if let Some(sent) = sent {
        request = request.header("x-request-id", sent);
    }
    let response = request.send().await.expect("hookd answers");
    let what = kind.what;
    assert_eq!(response.status().as_u16(), kind.status, "{what} ({sent:?})");
    let ids: Vec<String> = response
        .headers()
        .get_all("x-request-id")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{what} ({sent:?}): x-request-id {ids:?}");
    let id = ids.into_iter().next().unwrap();
    if echoed {
        assert_eq!(Some(id.as_str()), sent, "{what}");
    } else {
        assert_ne!(Some(id.as_str()), sent, "{what}: an unusable id was kept");
        assert!(
            uuid_shaped(&id),
            "{what} ({sent:?}): a fresh id is a UUID, got {id:?}"
        );
    }
    id
}

fn uuid_shaped(id: &str) -> bool {
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    groups == [8, 4, 4, 4, 12] && id.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

#[tokio::test]
async fn every_kind_of_answer_carries_a_request_id() {
    let app = TestApp::spawn_with(|config| {
        config.max_body_bytes = 1024;
        config.api_rate_limit = Some(ApiRateLimit {
            per_second: NonZeroU32::MIN,
            burst: NonZeroU32::new(1000).unwrap(),
        });
    })
    .await;
    let (_, created) = app
        .post("/app", serde_json::json!({"name": "ids", "uid": "ids"}))
        .await;
    assert!(created["id"].is_string(), "{created}");
    let mut kinds = vec![
        kind("an API read", Method::GET, "/api/v1/app/ids", 200),
        kind("liveness", Method::GET, "/api/v1/health", 200),
        kind("a missing record", Method::GET, "/api/v1/app/nope", 404),
        kind("no such API route", Method::GET, "/api/v1/nope", 404),
        kind("no such route at all", Method::GET, "/nope/at/all", 404),
        kind("a method not allowed", Method::DELETE, "/api/v1/app", 405),
        kind("the metrics", Method::GET, "/metrics", 200),
        kind("the dashboard's login page", Method::GET, "/login", 200),
        kind(
            "an unknown ingest URL",
            Method::POST,
            "/ingest/in/nope",
            404,
        ),
    ];
    kinds.push(Kind {
        token: None,
        ..kind("no token", Method::GET, "/api/v1/app", 401)
    });
    kinds.push(Kind {
        body: Some(r#"{"eventType": "a.b", "payload": 7}"#.to_owned()),
        ..kind("invalid input", Method::POST, "/api/v1/app/ids/msg", 422)
    });
    kinds.push(Kind {
        body: Some(format!(r#"{{"name": "{}"}}"#, "x".repeat(4096))),
        ..kind("a body over the limit", Method::POST, "/api/v1/app", 413)
    });
    for kind in &kinds {
        let mut fresh = Vec::new();
        for (sent, echoed) in SENT_IDS {
            let id = check(&app, kind, sent, echoed).await;
            if !echoed {
                fresh.push(id);
            }
        }
        fresh.sort();
        fresh.dedup();
        assert_eq!(fresh.len(), 4, "{}: fresh ids repeat", kind.what);
    }

    // The rate limit's 429 last, as it spends the token's budget.
    let limited = TestApp::spawn_with(|config| {
        config.api_rate_limit = Some(ApiRateLimit {
            per_second: NonZeroU32::MIN,
            burst: NonZeroU32::MIN,
        });
    })
    .await;
    let read = kind("within the limit", Method::GET, "/api/v1/app", 200);
    check(&limited, &read, Some("first-call"), true).await;
    let refused = kind("over the rate limit", Method::GET, "/api/v1/app", 429);
    for (sent, echoed) in SENT_IDS {
        check(&limited, &refused, sent, echoed).await;
    }
}
