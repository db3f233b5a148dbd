//! The scope table: every route the router has (`hookd::api::route_table`, the same
//! declaration the router is built from) called as {admin, own application's token, another
//! application's token, read-only own token, own tokens with Svix's `capabilities` (`ViewBase`
//! alone, and all six), expired token, revoked token}, each answer held
//! to the class its declared scope promises: allowed (not 401, not 403, not 5xx), 403 or 401.
//! A route added without a scope cannot be built (`ScopedRoutes` is the only way to add one,
//! which `routes_are_declared_only_through_scoped_routes` keeps true), and a declared route
//! is called here without naming it.
//!
//! Every route gets a fresh world (two applications, an endpoint, a message, a task, a source,
//! the tokens), and the principals that must be refused call first, so that a route that
//! deletes something is refused before the admin's call deletes it.

use std::time::Duration;

use hookd::api::{RouteDecl, Scope, route_table};
use hookd::domain::grants::{Capability, Need};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TOKEN, TestApp, TestClock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Expired,
    Revoked,
    OtherApp,
    ReadOnlyOwn,
    /// Capabilities `[ViewBase]`: every read, no write.
    ViewBaseOwn,
    /// All six capabilities: every write that names one, none that needs the whole application.
    AllCapabilitiesOwn,
    Own,
    Admin,
}

/// In the order they call: those refused first.
const EVERYONE: [Who; 8] = [
    Who::Expired,
    Who::Revoked,
    Who::OtherApp,
    Who::ReadOnlyOwn,
    Who::ViewBaseOwn,
    Who::AllCapabilitiesOwn,
    Who::Own,
    Who::Admin,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Allowed,
    Forbidden,
    Unauthorized,
}

/// What `who` must get from a route of `scope`; `names_own_records` when the route's path
/// names records of the own application (its `{app_id}`, or its background task).
fn expected(scope: Scope, who: Who, names_own_records: bool) -> Class {
    use Class::{Allowed, Forbidden, Unauthorized};
    match (who, scope) {
        (Who::Expired | Who::Revoked, _) => Unauthorized,
        (Who::Admin, Scope::AppToken) => Forbidden,
        (Who::Admin, _) => Allowed,
        (_, Scope::Admin) => Forbidden,
        (_, Scope::AppToken | Scope::Public) => Allowed,
        (Who::ReadOnlyOwn | Who::ViewBaseOwn, Scope::AppWrite(_)) => Forbidden,
        (Who::AllCapabilitiesOwn, Scope::AppWrite(Need::WholeApplication)) => Forbidden,
        (Who::OtherApp, _) if names_own_records => Forbidden,
        _ => Allowed,
    }
}

fn class_of(status: u16) -> Option<Class> {
    match status {
        401 => Some(Class::Unauthorized),
        403 => Some(Class::Forbidden),
        200..=299 | 400..=499 => Some(Class::Allowed),
        _ => None,
    }
}

/// The records and tokens one route is called with.
struct World {
    app_id: String,
    endpoint_id: String,
    msg_id: String,
    task_id: String,
    event_type: String,
    source_id: String,
    own_token_id: String,
    tokens: Vec<(Who, String)>,
}

impl World {
    async fn build(app: &TestApp, clock: &TestClock, round: usize) -> World {
        let app_id = created(
            app,
            "/app",
            json!({"name": "own", "uid": format!("own-{round}")}),
        )
        .await;
        let other_id = created(app, "/app", json!({"name": "other"})).await;
        let endpoint_id = created(
            app,
            &format!("/app/{app_id}/endpoint"),
            json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await;
        let event_type = format!("scope.round{round}");
        created(
            app,
            "/event-type",
            json!({"name": event_type, "description": "d"}),
        )
        .await;
        let msg_id = app.send_message(&app_id, json!({"round": round})).await;
        let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
        let (status, task) = app
            .post(
                &format!("/app/{app_id}/endpoint/{endpoint_id}/recover"),
                json!({"since": since}),
            )
            .await;
        assert_eq!(status, 202, "{task}");
        let task_id = task["id"].as_str().unwrap().to_owned();
        let source_id = created_at(
            app,
            &format!("{}/ingest/api/v1/source", app.base),
            json!({"name": "s", "type": "generic-webhook", "config": {}}),
        )
        .await;

        let issue = |app_path: String, body: Value| async move {
            let (status, issued) = app.post(&format!("{app_path}/token"), body).await;
            assert_eq!(status, 201, "{issued}");
            (
                issued["id"].as_str().unwrap().to_owned(),
                issued["token"].as_str().unwrap().to_owned(),
            )
        };
        let own_path = format!("/app/{app_id}");
        let (expired_id, expired) = issue(own_path.clone(), json!({"expiry": 1})).await;
        let (revoked_id, revoked) = issue(own_path.clone(), json!({"name": "gone"})).await;
        let (status, body) = app
            .request(
                Method::DELETE,
                &format!("/app/{app_id}/token/{revoked_id}"),
                None,
            )
            .await;
        assert_eq!(status, 204, "{body}");
        let (_, other) = issue(format!("/app/{other_id}"), json!({})).await;
        let (_, read_only) = issue(own_path.clone(), json!({"readOnly": true})).await;
        let (_, view_base) = issue(own_path.clone(), json!({"capabilities": ["ViewBase"]})).await;
        let every_capability = json!({"capabilities": [
            "ViewBase", "ViewEndpointSecret", "ManageEndpointSecret", "ManageTransformations",
            "CreateAttempts", "ManageEndpoint"
        ]});
        let (_, all_capabilities) = issue(own_path.clone(), every_capability).await;
        let (own_token_id, own) = issue(own_path, json!({"name": "own"})).await;
        clock.advance_to(clock.instant() + Duration::from_secs(2));
        assert_ne!(expired_id, own_token_id);
        World {
            app_id,
            endpoint_id,
            msg_id,
            task_id,
            event_type,
            source_id,
            own_token_id,
            tokens: vec![
                (Who::Expired, expired),
                (Who::Revoked, revoked),
                (Who::OtherApp, other),
                (Who::ReadOnlyOwn, read_only),
                (Who::ViewBaseOwn, view_base),
                (Who::AllCapabilitiesOwn, all_capabilities),
                (Who::Own, own),
                (Who::Admin, TOKEN.to_owned()),
            ],
        }
    }

    /// The route's path with this world's records in it.
    fn path(&self, template: &str) -> String {
        template
            .replace("{app_id}", &self.app_id)
            .replace("{endpoint_id}", &self.endpoint_id)
            .replace("{msg_id}", &self.msg_id)
            .replace("{task_id}", &self.task_id)
            .replace("{event_type_name}", &self.event_type)
            .replace("{source_id}", &self.source_id)
            .replace("{token_id}", &self.own_token_id)
            .replace("{integ_id}", "integ_missing")
            .replace("{attempt_id}", "atmpt_missing")
            .replace("{request_id}", "inreq_missing")
            .replace("{token}", "no-such-ingest-token")
    }

    fn token(&self, who: Who) -> &str {
        &self.tokens.iter().find(|(each, _)| *each == who).unwrap().1
    }
}

async fn created(app: &TestApp, path: &str, body: Value) -> String {
    created_at(app, &app.url(path), body).await
}

async fn created_at(app: &TestApp, url: &str, body: Value) -> String {
    let response = app
        .http
        .post(url)
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{url}: {answer}");
    answer["id"]
        .as_str()
        .or(answer["name"].as_str())
        .unwrap()
        .to_owned()
}

/// Calls one route; only the status is read (an event stream is dropped once it answers).
async fn call(app: &TestApp, route: &RouteDecl, url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = app
        .http
        .request(route.method.clone(), url)
        .timeout(Duration::from_secs(30));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if [Method::POST, Method::PUT, Method::PATCH].contains(&route.method) {
        request = request.json(&json!({}));
    }
    let response = request.send().await.expect("request reaches hookd");
    let status = response.status().as_u16();
    let is_stream = response
        .headers()
        .get("content-type")
        .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
    let body = if is_stream {
        String::new()
    } else {
        response.text().await.unwrap_or_default()
    };
    (status, body)
}

#[tokio::test]
async fn every_route_answers_each_principal_as_its_scope_says() {
    let clock = TestClock::new();
    let app = TestApp::spawn_with_deps(|_| {}, clock.dependencies()).await;
    let routes = route_table();
    assert!(
        routes.len() > 60,
        "the table lists every route: {}",
        routes.len()
    );
    let mut failures = Vec::new();
    for (round, route) in routes.iter().enumerate() {
        let world = World::build(&app, &clock, round).await;
        let url = format!("{}{}", app.base, world.path(&route.path));
        let names_own_records = route.path.contains("{app_id}") || route.path.contains("{task_id}");
        if route.scope == Scope::Public {
            let (anonymous, _) = call(&app, route, &url, None).await;
            for who in EVERYONE {
                let (status, body) = call(&app, route, &url, Some(world.token(who))).await;
                if status != anonymous || status == 403 || status >= 500 {
                    failures.push(format!(
                        "{} {} as {who:?}: {status} (anonymous {anonymous}) {body}",
                        route.method, route.path
                    ));
                }
            }
            continue;
        }
        for who in EVERYONE {
            let (status, body) = call(&app, route, &url, Some(world.token(who))).await;
            let want = expected(route.scope, who, names_own_records);
            let routed = !(status == 405 || body.contains("no such route"));
            if class_of(status) != Some(want) || !routed {
                failures.push(format!(
                    "{} {} ({:?}) as {who:?}: {status}, want {want:?}: {body}",
                    route.method, route.path, route.scope
                ));
            }
        }
        let (status, _) = call(&app, route, &url, None).await;
        if status != 401 {
            failures.push(format!(
                "{} {} without a token: {status}",
                route.method, route.path
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_declared_route_is_unique_and_scoped_routes_are_under_known_prefixes() {
    let routes = route_table();
    let mut seen = std::collections::HashSet::new();
    for route in &routes {
        assert!(
            seen.insert((route.method.clone(), route.path.clone())),
            "{} {} is declared twice",
            route.method,
            route.path
        );
        assert!(
            route.path.starts_with("/api/v1/")
                || route.path.starts_with("/ingest/")
                || route.path == "/metrics",
            "{}",
            route.path
        );
    }
    let public: Vec<_> = routes
        .iter()
        .filter(|route| route.scope == Scope::Public)
        .map(|route| route.path.as_str())
        .collect();
    assert_eq!(
        public,
        [
            "/api/v1/health",
            "/api/v1/health/ready",
            "/api/v1/openapi.json",
            "/ingest/in/{token}",
            "/metrics"
        ]
    );
}

/// `ScopedRoutes` (in `api/scoped_routes.rs`) is the only way a route is added: no other file
/// of the API names axum's routing, so a route cannot be added without a scope.
#[test]
fn routes_are_declared_only_through_scoped_routes() {
    let api = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut offenders = Vec::new();
    let mut dirs = vec![api];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().unwrap() != "scoped_routes.rs" {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains("routing::") || text.contains("MethodRouter") {
                    offenders.push(path.display().to_string());
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "routes built outside ScopedRoutes: {offenders:?}"
    );
}

/// The declarations themselves follow the scope model: application tokens never reach an
/// admin-only area, and nothing but a read (a GET, or one of the reads Svix posts) is open
/// to read-only tokens. (The table test above
/// proves that each route is enforced as declared; this proves the declarations.)
#[test]
fn declared_scopes_follow_the_scope_model() {
    let admin_only_areas = [
        "/api/v1/operational-webhook/",
        "/api/v1/auth/app",
        "/api/v1/app/{app_id}/token",
        "/api/v1/app/{app_id}/integration",
        "/api/v1/app/{app_id}/stream",
        "/api/v1/background-task",
        "/api/v1/stats/",
        "/api/v1/environment/",
        "/ingest/api/v1/",
    ];
    for route in route_table() {
        let path = route.path.as_str();
        // Svix makes a few reads POSTs (with a body); they write nothing.
        let posted_reads = ["/api/v1/app/{app_id}/msg/precheck/active"];
        let is_read = route.method == Method::GET || posted_reads.contains(&path);
        let admin_only = path == "/api/v1/app"
            || (path == "/api/v1/app/{app_id}" && !is_read)
            || (path.starts_with("/api/v1/event-type") && !is_read)
            || (admin_only_areas.iter().any(|area| path.starts_with(area))
                && path != "/api/v1/background-task/{task_id}");
        let public = [
            "/api/v1/health",
            "/api/v1/health/ready",
            "/api/v1/openapi.json",
            "/ingest/in/{token}",
            "/metrics",
        ];
        let want = if public.contains(&path) {
            Scope::Public
        } else if path == "/api/v1/auth/logout" {
            Scope::AppToken
        } else if admin_only {
            Scope::Admin
        } else if is_read && !path.ends_with("/secret") {
            Scope::AppRead
        } else {
            Scope::AppWrite(write_need(path))
        };
        assert_eq!(route.scope, want, "{} {}", route.method, route.path);
    }
}

/// The portal capability a write of `path` needs (Svix's mapping): the secret's own two, the
/// transformation's, sending again, the rest of an endpoint; anything else (messages, erasure,
/// a polling cursor) only a token with the whole application.
fn write_need(path: &str) -> Need {
    let resends = [
        "/resend",
        "/replay",
        "/recover",
        "/replay-missing",
        "/send-example",
        "/bulk-replay",
    ];
    let capability = if path.ends_with("/secret") {
        Capability::ViewEndpointSecret
    } else if path.ends_with("/secret/rotate") {
        Capability::ManageEndpointSecret
    } else if path.ends_with("/transformation") {
        Capability::ManageTransformations
    } else if resends.iter().any(|tail| path.ends_with(tail)) {
        Capability::CreateAttempts
    } else if path.contains("/endpoint") && !path.contains("/msg") && !path.contains("/attempt") {
        Capability::ManageEndpoint
    } else {
        return Need::WholeApplication;
    };
    Need::Capability(capability)
}
