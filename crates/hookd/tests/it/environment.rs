//! Moving an installation: `POST /environment/export` into `/environment/import` of a fresh
//! hookd reproduces every event type, application and endpoint (ids, secrets, headers,
//! credentials, delivery options), on SQLite and PostgreSQL; importing twice duplicates
//! nothing; a bad entry anywhere is a 422 naming it and writes nothing; and `hookd export` /
//! `hookd import` do the same from the command line.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Receiver, TOKEN, TestApp, verify_signature};
use crate::postgres_schema::TestSchema;

const WAIT: Duration = Duration::from_secs(15);
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// An installation with one of everything an export must carry.
async fn populate(app: &TestApp, receiver_url: &str) -> (String, String) {
    for body in [
        json!({"name": "invoice.paid", "description": "Paid", "featureFlag": "beta",
               "groupName": "billing",
               "schemas": {"1": {"type": "object", "properties": {"amount": {"type": "integer"}}}}}),
        json!({"name": "invoice.voided", "description": "Old", "archived": true}),
    ] {
        let (status, answer) = app.post("/event-type", body).await;
        assert_eq!(status, 201, "{answer}");
    }
    let (status, application) = app
        .post(
            "/app",
            json!({"name": "Acme", "uid": "acme", "throttleRate": 50, "metadata": {"plan": "pro"}}),
        )
        .await;
    assert_eq!(status, 201, "{application}");
    let app_id = application["id"].as_str().unwrap().to_owned();
    let (status, endpoint) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({
                "url": receiver_url, "uid": "main", "description": "receiver",
                "filterTypes": ["invoice.paid"], "channels": ["eu"], "throttleRate": 10,
                "metadata": {"team": "payments"}, "secret": SECRET,
                "headers": {"X-Tenant": "acme"}, "maxInFlight": 3, "ordered": true,
                "retrySchedule": "1s,5s", "auth": {"type": "bearer", "token": "s3cret-token"},
            }),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let (status, second) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": "https://example.com/hook", "disabled": true}),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    let (status, answer) = app.post("/app", json!({"name": "No uid"})).await;
    assert_eq!(status, 201, "{answer}");
    (app_id, endpoint["id"].as_str().unwrap().to_owned())
}

async fn export(app: &TestApp) -> Value {
    let (status, document) = app.post("/environment/export", json!({})).await;
    assert_eq!(status, 200, "{document}");
    document
}

async fn import(app: &TestApp, document: &Value) -> (u16, Value) {
    app.post("/environment/import", document.clone()).await
}

/// The document without what an import cannot keep (when records were written).
fn without_times(value: &Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .filter(|(key, _)| !matches!(key.as_str(), "createdAt" | "updatedAt"))
                .map(|(key, value)| (key.clone(), without_times(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_times).collect()),
        other => other.clone(),
    }
}

/// Export from `source`, import into the empty `target`: the same installation, twice over
/// no duplicates, and the moved endpoint signs with the original secret.
async fn round_trip(source: &TestApp, target: &TestApp) {
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = populate(source, &receiver.url).await;
    let exported = export(source).await;
    let endpoint = &exported["applications"][0]["endpoints"][0];
    assert_eq!(endpoint["secret"], SECRET, "{exported}");
    assert_eq!(
        endpoint["auth"],
        json!({"type": "bearer", "token": "s3cret-token"})
    );
    assert_eq!(endpoint["headers"], json!({"X-Tenant": "acme"}));
    assert_eq!(exported["applications"].as_array().unwrap().len(), 2);
    assert_eq!(exported["eventTypes"].as_array().unwrap().len(), 2);

    let (status, answer) = import(target, &exported).await;
    assert_eq!(status, 204, "{answer}");
    let imported = export(target).await;
    assert_eq!(without_times(&imported), without_times(&exported));
    let (status, answer) = import(target, &exported).await;
    assert_eq!(status, 204, "{answer}");
    assert_eq!(
        without_times(&export(target).await),
        without_times(&exported),
        "a second import changes nothing"
    );

    // The moved endpoint keeps its id and its secret: a receiver keeps verifying.
    let (status, message) = target
        .post(
            &format!("/app/{app_id}/msg"),
            json!({"eventType": "invoice.paid", "channels": ["eu"], "payload": {"amount": 1}}),
        )
        .await;
    assert_eq!(status, 202, "{message}");
    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(received[0].header("x-tenant"), "acme");
    assert_eq!(received[0].header("authorization"), "Bearer s3cret-token");
    verify_signature(&received[0], SECRET);
    let (status, _) = target
        .get(&format!("/app/acme/endpoint/{endpoint_id}"))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_export_imported_into_an_empty_hookd_reproduces_it() {
    let source = TestApp::spawn().await;
    let target = TestApp::spawn().await;
    round_trip(&source, &target).await;
}

#[tokio::test]
async fn postgres_an_export_imported_into_an_empty_hookd_reproduces_it() {
    let schema = TestSchema::create("postgres_environment_round_trip").await;
    let url = schema.url.clone();
    let source = TestApp::spawn().await;
    let target = TestApp::spawn_with(move |config| config.database_url = Some(url)).await;
    round_trip(&source, &target).await;
    // And back again, from PostgreSQL into SQLite.
    let back = TestApp::spawn().await;
    let (status, answer) = import(&back, &export(&target).await).await;
    assert_eq!(status, 204, "{answer}");
    assert_eq!(
        without_times(&export(&back).await),
        without_times(&export(&target).await)
    );
}

#[tokio::test]
async fn an_import_updates_what_exists_by_id_uid_or_name() {
    let app = TestApp::spawn().await;
    let (status, answer) = app
        .post("/event-type", json!({"name": "a.b", "description": "old"}))
        .await;
    assert_eq!(status, 201, "{answer}");
    let (status, existing) = app
        .post("/app", json!({"name": "Old", "uid": "acme"}))
        .await;
    assert_eq!(status, 201, "{existing}");
    let document = json!({
        "eventTypes": [{"name": "a.b", "description": "new"}],
        "applications": [{"name": "New", "uid": "acme", "endpoints": [
            {"uid": "main", "url": "https://example.com/a", "secret": SECRET}
        ]}],
    });
    for _ in 0..2 {
        let (status, answer) = import(&app, &document).await;
        assert_eq!(status, 204, "{answer}");
    }
    let exported = export(&app).await;
    assert_eq!(exported["eventTypes"][0]["description"], "new");
    let apps = exported["applications"].as_array().unwrap();
    assert_eq!(apps.len(), 1, "{exported}");
    assert_eq!(apps[0]["id"], existing["id"]);
    assert_eq!(apps[0]["name"], "New");
    assert_eq!(apps[0]["endpoints"].as_array().unwrap().len(), 1);
    // A changed secret in the document becomes the endpoint's secret.
    let mut rotated = document.clone();
    rotated["applications"][0]["endpoints"][0]["secret"] =
        json!("whsec_dGhpcyBpcyBhIGRpZmZlcmVudCBzZWNyZXQ=");
    let (status, answer) = import(&app, &rotated).await;
    assert_eq!(status, 204, "{answer}");
    let secret = app.endpoint_secret("acme", "main").await;
    assert_eq!(secret, "whsec_dGhpcyBpcyBhIGRpZmZlcmVudCBzZWNyZXQ=");
}

#[tokio::test]
async fn a_bad_entry_anywhere_is_refused_by_its_place_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let good_app =
        json!({"name": "Good", "uid": "good", "endpoints": [{"url": "https://example.com/ok"}]});
    let with_endpoint = |endpoint: Value| {
        json!({"eventTypes": [{"name": "ok.type", "description": ""}],
               "applications": [good_app, {"name": "Second", "uid": "second", "endpoints": [
                   {"url": "https://example.com/ok2"}, endpoint]}]})
    };
    fn endpoint_loc(field: &'static str) -> Vec<&'static str> {
        vec!["body", "applications", "1", "endpoints", "1", field]
    }
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            with_endpoint(json!({"url": "not a url"})),
            endpoint_loc("url"),
        ),
        (
            with_endpoint(json!({"url": "https://example.com/x", "secret": "nope"})),
            endpoint_loc("secret"),
        ),
        (
            with_endpoint(json!({"url": "https://example.com/x", "uid": "bad uid"})),
            endpoint_loc("uid"),
        ),
        (
            with_endpoint(json!({"url": "https://example.com/x", "id": "app_wrong"})),
            endpoint_loc("id"),
        ),
        (
            with_endpoint(
                json!({"url": "https://example.com/x", "filterTypes": ["ok", "bad type!"]}),
            ),
            [endpoint_loc("eventTypes"), vec!["1"]].concat(),
        ),
        (
            with_endpoint(
                json!({"url": "https://example.com/x", "headers": {"Content-Type": "x"}}),
            ),
            [endpoint_loc("headers"), vec!["Content-Type"]].concat(),
        ),
        (
            with_endpoint(json!({"url": "https://example.com/x", "retrySchedule": "soon"})),
            endpoint_loc("retrySchedule"),
        ),
        (
            with_endpoint(json!({"url": "https://example.com/x", "uid": "dup"})).pipe(
                |mut document| {
                    document["applications"][1]["endpoints"][0]["uid"] = json!("dup");
                    document
                },
            ),
            endpoint_loc("uid"),
        ),
        (
            json!({"eventTypes": [{"name": "a.b"}, {"name": "a b"}]}),
            vec!["body", "eventTypes", "1", "name"],
        ),
        (
            json!({"eventTypes": [{"name": "a.b"}, {"name": "a.b"}]}),
            vec!["body", "eventTypes", "1", "name"],
        ),
        (
            json!({"eventTypes": [{"description": "no name"}]}),
            vec!["body", "eventTypes", "0", "name"],
        ),
        (
            json!({"eventTypes": [{"name": "a.b", "featureFlags": ["x", "y"]}]}),
            vec!["body", "eventTypes", "0", "featureFlags"],
        ),
        (
            json!({"applications": [good_app, {"name": ""}]}),
            vec!["body", "applications", "1", "name"],
        ),
        (
            json!({"applications": [good_app, {"name": "x", "uid": "good"}]}),
            vec!["body", "applications", "1", "uid"],
        ),
        (
            json!({"applications": [{"name": "x", "id": "app_operational"}]}),
            vec!["body", "applications", "0", "id"],
        ),
        (
            json!({"applications": [{"name": "x", "throttleRate": "fast"}]}),
            vec!["body", "applications", "0", "throttleRate"],
        ),
        (
            json!({"settings": {"colorPaletteLight": {}}}),
            vec!["body", "settings", "colorPaletteLight"],
        ),
        (
            json!({"connectors": [{"name": "c", "transformation": "x"}]}),
            vec!["body", "connectors", "0"],
        ),
        (json!({"applications": {}}), vec!["body", "applications"]),
    ];
    for (document, loc) in cases {
        let (status, answer) = import(&app, &document).await;
        assert_eq!(status, 422, "{document}: {answer}");
        let first = &answer["detail"][0];
        let got: Vec<&str> = first["loc"]
            .as_array()
            .unwrap()
            .iter()
            .map(|part| part.as_str().unwrap())
            .collect();
        assert_eq!(got, loc, "{document}: {answer}");
        assert!(first["msg"].as_str().is_some_and(|msg| !msg.is_empty()));
        let exported = export(&app).await;
        assert_eq!(
            exported["eventTypes"],
            json!([]),
            "{document} wrote: {exported}"
        );
        assert_eq!(
            exported["applications"],
            json!([]),
            "{document} wrote: {exported}"
        );
    }
}

#[tokio::test]
async fn an_export_is_never_stored_under_an_idempotency_key() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    populate(&app, &receiver.url).await;
    for _ in 0..2 {
        let response = app
            .http
            .post(app.url("/environment/export"))
            .bearer_auth(TOKEN)
            .header("idempotency-key", "auto_same-key")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.headers().get("idempotent-replayed").is_none());
        let document: Value = response.json().await.unwrap();
        assert_eq!(
            document["applications"][0]["endpoints"][0]["secret"],
            SECRET
        );
    }
    // The idempotency table holds no answer with the secret in it.
    let connection = rusqlite::Connection::open_with_flags(
        app.data_dir().join("hookd.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let stored: i64 = connection
        .query_row("SELECT count(*) FROM idempotency", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn only_the_admin_moves_an_installation() {
    let app = TestApp::spawn().await;
    let (_, application) = app.post("/app", json!({"name": "A"})).await;
    let app_id = application["id"].as_str().unwrap();
    let (status, token) = app.post(&format!("/app/{app_id}/token"), json!({})).await;
    assert_eq!(status, 201, "{token}");
    let token = token["token"].as_str().unwrap();
    for path in ["/environment/export", "/environment/import"] {
        let response = app
            .http
            .post(app.url(path))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403, "{path}");
    }
}

/// Runs the built `hookd` binary; stdin is `input` when given.
fn hookd_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(args)
        .env("HOOKD_ADMIN_TOKEN", TOKEN)
        .env_remove("HOOKD_SERVER")
        .output()
        .expect("running hookd")
}

#[tokio::test]
async fn the_cli_exports_and_imports_with_progress_and_names_a_bad_entry() {
    let source = TestApp::spawn().await;
    let target = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    populate(&source, &receiver.url).await;
    let base = |app: &TestApp| app.url("").trim_end_matches("/api/v1").to_owned();
    let (from, to) = (base(&source), base(&target));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("env.json");

    let exported = {
        let from = from.clone();
        tokio::task::spawn_blocking(move || hookd_cli(&["export", "--url", &from]))
            .await
            .unwrap()
    };
    assert!(exported.status.success(), "{exported:?}");
    let progress = String::from_utf8_lossy(&exported.stderr);
    assert!(
        progress.contains("exported 2 event types, 2 applications, 2 endpoints"),
        "{progress}"
    );
    std::fs::write(&file, &exported.stdout).unwrap();
    let document: Value = serde_json::from_slice(&exported.stdout).unwrap();

    let imported = {
        let (to, file) = (to.clone(), file.clone());
        tokio::task::spawn_blocking(move || {
            hookd_cli(&["import", "--url", &to, file.to_str().unwrap()])
        })
        .await
        .unwrap()
    };
    assert!(imported.status.success(), "{imported:?}");
    let progress = String::from_utf8_lossy(&imported.stderr);
    assert!(
        progress.contains("imported 2 event types, 2 applications, 2 endpoints"),
        "{progress}"
    );
    assert_eq!(
        without_times(&export(&target).await),
        without_times(&document)
    );

    // A bad entry: the command fails and names it, and the target is unchanged.
    let mut bad = document.clone();
    bad["applications"][0]["endpoints"][1]["url"] = json!("ftp://example.com");
    bad["applications"][0]["name"] = json!("Renamed");
    std::fs::write(&file, bad.to_string()).unwrap();
    let refused = {
        let (to, file) = (to.clone(), file.clone());
        tokio::task::spawn_blocking(move || {
            hookd_cli(&["import", "--url", &to, file.to_str().unwrap()])
        })
        .await
        .unwrap()
    };
    assert!(!refused.status.success(), "{refused:?}");
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(error.contains("422"), "{error}");
    assert!(error.contains("applications.0.endpoints.1.url"), "{error}");
    assert!(error.contains("nothing was imported"), "{error}");
    assert_eq!(export(&target).await["applications"][0]["name"], "Acme");
}

trait Pipe: Sized {
    fn pipe(self, change: impl FnOnce(Self) -> Self) -> Self {
        change(self)
    }
}

impl Pipe for Value {}
