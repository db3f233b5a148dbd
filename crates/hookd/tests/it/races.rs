//! Concurrent writes to one resource over real HTTP: read-modify-writes lose nothing, a write
//! racing the deletion of what it names answers 404 (never 500, never a wrong 409), and
//! concurrent upserts create exactly once. Each scenario runs on SQLite and, where the race is
//! in SQL, on PostgreSQL too.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::{BoxFuture, join_all};
use hookd::app::{self, Dependencies};
use hookd::clock::SystemClock;
use hookd::engine::client::Resolver;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestApp, TestClient, test_config};
use crate::postgres_schema::TestSchema;

/// Rounds of a two-request race: one round may happen to run the requests one after the other,
/// so a lost update shows only over several rounds.
const RACE_ROUNDS: usize = 20;
/// Rounds of a write racing a delete of what it names.
const DELETE_RACE_ROUNDS: usize = 25;

async fn spawn_on_postgres(schema: &TestSchema) -> TestApp {
    let url = schema.url.clone();
    TestApp::spawn_with(move |config| config.database_url = Some(url)).await
}

async fn create_app(app: &TestClient) -> String {
    let (status, created) = app.post("/app", json!({"name": "races"})).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn create_endpoint(app: &TestClient, app_id: &str) -> String {
    let (status, created) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

// --- lost updates ---

async fn concurrent_header_patches_keep_every_header(app: &TestClient) {
    let app_id = create_app(app).await;
    let endpoint_id = create_endpoint(app, &app_id).await;
    let path = format!("/app/{app_id}/endpoint/{endpoint_id}/headers");
    let statuses = join_all((0..30).map(|index| {
        let body = json!({"headers": {format!("x-header-{index}"): index.to_string()}});
        app.request(Method::PATCH, &path, Some(body))
    }))
    .await;
    for (status, body) in &statuses {
        assert_eq!(*status, 204, "{body}");
    }
    let (status, headers) = app.get(&path).await;
    assert_eq!(status, 200, "{headers}");
    let expected: BTreeMap<String, Value> = (0..30)
        .map(|index| (format!("x-header-{index}"), json!(index.to_string())))
        .collect();
    let kept: BTreeMap<String, Value> = serde_json::from_value(headers["headers"].clone()).unwrap();
    assert_eq!(kept, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_header_patches_keep_every_header_on_sqlite() {
    let app = TestApp::spawn().await;
    concurrent_header_patches_keep_every_header(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_header_patches_keep_every_header() {
    let schema = TestSchema::create("races_header_patches").await;
    let app = spawn_on_postgres(&schema).await;
    concurrent_header_patches_keep_every_header(&app).await;
}

/// The header limit is checked against the headers as they are inside the write, and a
/// refused PATCH writes nothing.
async fn header_patches_past_the_limit_are_refused_whole(app: &TestClient) {
    let app_id = create_app(app).await;
    let endpoint_id = create_endpoint(app, &app_id).await;
    let path = format!("/app/{app_id}/endpoint/{endpoint_id}/headers");
    let first: BTreeMap<String, String> = (0..45)
        .map(|index| (format!("x-first-{index}"), "1".to_owned()))
        .collect();
    let (status, body) = app
        .request(Method::PUT, &path, Some(json!({"headers": first})))
        .await;
    assert_eq!(status, 204, "{body}");
    let more: BTreeMap<String, String> = (0..6)
        .map(|index| (format!("x-more-{index}"), "2".to_owned()))
        .collect();
    let (status, refused) = app
        .request(Method::PATCH, &path, Some(json!({"headers": more})))
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["detail"][0]["loc"], json!(["body", "headers"]));
    let (_, kept) = app.get(&path).await;
    let kept: BTreeMap<String, String> = serde_json::from_value(kept["headers"].clone()).unwrap();
    assert_eq!(kept, first);
}

#[tokio::test]
async fn header_patches_past_the_limit_are_refused_whole_on_sqlite() {
    let app = TestApp::spawn().await;
    header_patches_past_the_limit_are_refused_whole(&app).await;
}

#[tokio::test]
async fn postgres_header_patches_past_the_limit_are_refused_whole() {
    let schema = TestSchema::create("races_header_limit").await;
    let app = spawn_on_postgres(&schema).await;
    header_patches_past_the_limit_are_refused_whole(&app).await;
}

async fn racing_endpoint_patches_keep_both_fields(app: &TestClient) {
    let app_id = create_app(app).await;
    let endpoint_id = create_endpoint(app, &app_id).await;
    let path = format!("/app/{app_id}/endpoint/{endpoint_id}");
    for round in 1..=RACE_ROUNDS {
        let description = format!("round {round}");
        let rate_limit = u32::try_from(round).unwrap();
        let (described, limited) = tokio::join!(
            app.request(
                Method::PATCH,
                &path,
                Some(json!({"description": description}))
            ),
            app.request(Method::PATCH, &path, Some(json!({"rateLimit": rate_limit}))),
        );
        assert_eq!(described.0, 200, "{}", described.1);
        assert_eq!(limited.0, 200, "{}", limited.1);
        let (status, endpoint) = app.get(&path).await;
        assert_eq!(status, 200, "{endpoint}");
        assert_eq!(endpoint["description"], description, "round {round}");
        assert_eq!(endpoint["rateLimit"], rate_limit, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_endpoint_patches_keep_both_fields_on_sqlite() {
    let app = TestApp::spawn().await;
    racing_endpoint_patches_keep_both_fields(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_racing_endpoint_patches_keep_both_fields() {
    let schema = TestSchema::create("races_endpoint_patches").await;
    let app = spawn_on_postgres(&schema).await;
    racing_endpoint_patches_keep_both_fields(&app).await;
}

async fn racing_event_type_patches_keep_both_fields(app: &TestClient) {
    let (status, created) = app
        .post(
            "/event-type",
            json!({"name": "invoice.paid", "description": "paid"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let path = "/event-type/invoice.paid";
    for round in 1..=RACE_ROUNDS {
        let description = format!("round {round}");
        let group = format!("group-{round}");
        let (described, grouped) = tokio::join!(
            app.request(
                Method::PATCH,
                path,
                Some(json!({"description": description}))
            ),
            app.request(Method::PATCH, path, Some(json!({"groupName": group}))),
        );
        assert_eq!(described.0, 200, "{}", described.1);
        assert_eq!(grouped.0, 200, "{}", grouped.1);
        let (status, event_type) = app.get(path).await;
        assert_eq!(status, 200, "{event_type}");
        assert_eq!(event_type["description"], description, "round {round}");
        assert_eq!(event_type["groupName"], group, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_event_type_patches_keep_both_fields_on_sqlite() {
    let app = TestApp::spawn().await;
    racing_event_type_patches_keep_both_fields(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_racing_event_type_patches_keep_both_fields() {
    let schema = TestSchema::create("races_event_type_patches").await;
    let app = spawn_on_postgres(&schema).await;
    racing_event_type_patches_keep_both_fields(&app).await;
}

async fn racing_application_patches_keep_both_fields(app: &TestClient) {
    let app_id = create_app(app).await;
    let path = format!("/app/{app_id}");
    for round in 1..=RACE_ROUNDS {
        let name = format!("round {round}");
        let rate_limit = u32::try_from(round).unwrap();
        let (named, limited) = tokio::join!(
            app.request(Method::PATCH, &path, Some(json!({"name": name}))),
            app.request(Method::PATCH, &path, Some(json!({"rateLimit": rate_limit}))),
        );
        assert_eq!(named.0, 200, "{}", named.1);
        assert_eq!(limited.0, 200, "{}", limited.1);
        let (status, application) = app.get(&path).await;
        assert_eq!(status, 200, "{application}");
        assert_eq!(application["name"], name, "round {round}");
        assert_eq!(application["rateLimit"], rate_limit, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_application_patches_keep_both_fields_on_sqlite() {
    let app = TestApp::spawn().await;
    racing_application_patches_keep_both_fields(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_racing_application_patches_keep_both_fields() {
    let schema = TestSchema::create("races_application_patches").await;
    let app = spawn_on_postgres(&schema).await;
    racing_application_patches_keep_both_fields(&app).await;
}

// --- writes racing a delete ---

/// Asserts that every answer of a write racing a delete is `success` or 404 with a JSON body.
fn assert_success_or_not_found(answers: &[(u16, Value)], success: u16, what: &str) {
    for (status, body) in answers {
        assert!(
            *status == success || *status == 404,
            "{what} answered {status}: {body}"
        );
        if *status == 404 {
            assert_eq!(body["code"], "not_found", "{what}: {body}");
        }
    }
}

async fn messages_racing_application_delete_answer_404(app: &TestClient) {
    for _ in 0..DELETE_RACE_ROUNDS {
        let app_id = create_app(app).await;
        create_endpoint(app, &app_id).await;
        let messages_path = format!("/app/{app_id}/msg");
        let app_path = format!("/app/{app_id}");
        let sends = join_all((0..4).map(|index| {
            app.post(
                &messages_path,
                json!({"eventType": "invoice.paid", "payload": {"index": index}}),
            )
        }));
        let delete = app.request(Method::DELETE, &app_path, None);
        let (answers, deleted) = tokio::join!(sends, delete);
        assert_eq!(deleted.0, 204, "{}", deleted.1);
        assert_success_or_not_found(&answers, 202, "POST .../msg racing DELETE /app");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_racing_application_delete_answer_404_on_sqlite() {
    let app = TestApp::spawn().await;
    messages_racing_application_delete_answer_404(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_messages_racing_application_delete_answer_404() {
    let schema = TestSchema::create("races_messages_app_delete").await;
    let app = spawn_on_postgres(&schema).await;
    messages_racing_application_delete_answer_404(&app).await;
}

async fn secret_rotations_racing_endpoint_delete_answer_404(app: &TestClient) {
    let app_id = create_app(app).await;
    for _ in 0..DELETE_RACE_ROUNDS {
        let endpoint_id = create_endpoint(app, &app_id).await;
        let path = format!("/app/{app_id}/endpoint/{endpoint_id}");
        let rotate_path = format!("{path}/secret/rotate");
        let rotations = join_all((0..4).map(|_| app.post(&rotate_path, json!({}))));
        let delete = app.request(Method::DELETE, &path, None);
        let (answers, deleted) = tokio::join!(rotations, delete);
        assert_eq!(deleted.0, 204, "{}", deleted.1);
        assert_success_or_not_found(&answers, 200, "secret/rotate racing endpoint delete");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secret_rotations_racing_endpoint_delete_answer_404_on_sqlite() {
    let app = TestApp::spawn().await;
    secret_rotations_racing_endpoint_delete_answer_404(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_secret_rotations_racing_endpoint_delete_answer_404() {
    let schema = TestSchema::create("races_rotate_endpoint_delete").await;
    let app = spawn_on_postgres(&schema).await;
    secret_rotations_racing_endpoint_delete_answer_404(&app).await;
}

async fn endpoint_creates_racing_application_delete_answer_404(app: &TestClient) {
    for _ in 0..DELETE_RACE_ROUNDS {
        let app_id = create_app(app).await;
        let endpoints_path = format!("/app/{app_id}/endpoint");
        let creates = join_all(
            (0..4).map(|_| app.post(&endpoints_path, json!({"url": "http://127.0.0.1:9/hook"}))),
        );
        let app_path = format!("/app/{app_id}");
        let delete = app.request(Method::DELETE, &app_path, None);
        let (answers, deleted) = tokio::join!(creates, delete);
        assert_eq!(deleted.0, 204, "{}", deleted.1);
        assert_success_or_not_found(&answers, 201, "endpoint create racing DELETE /app");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn endpoint_creates_racing_application_delete_answer_404_on_sqlite() {
    let app = TestApp::spawn().await;
    endpoint_creates_racing_application_delete_answer_404(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_endpoint_creates_racing_application_delete_answer_404() {
    let schema = TestSchema::create("races_endpoint_create_app_delete").await;
    let app = spawn_on_postgres(&schema).await;
    endpoint_creates_racing_application_delete_answer_404(&app).await;
}

// --- upserts ---

/// Checks concurrent PUTs to one missing path: exactly one 201, every other answer 200, and
/// every answer shows its own request's body applied (none is ignored).
fn assert_created_exactly_once(answers: &[(u16, Value)], sent_field: &str, sent: &[String]) {
    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(created, 1, "{answers:?}");
    for ((status, body), value) in answers.iter().zip(sent) {
        assert!(*status == 200 || *status == 201, "{status}: {body}");
        assert_eq!(body[sent_field], json!(value), "{body}");
    }
}

async fn concurrent_application_puts_create_once(app: &TestClient) {
    let names: Vec<String> = (0..50).map(|index| format!("put {index}")).collect();
    let answers = join_all(
        names
            .iter()
            .map(|name| app.request(Method::PUT, "/app/shared-uid", Some(json!({"name": name})))),
    )
    .await;
    assert_created_exactly_once(&answers, "name", &names);
    let (status, listed) = app.get("/app").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    // A PUT to the existing uid updates it.
    let (status, updated) = app
        .request(
            Method::PUT,
            "/app/shared-uid",
            Some(json!({"name": "last"})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "last");
    assert_eq!(updated["uid"], "shared-uid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_application_puts_create_once_on_sqlite() {
    let app = TestApp::spawn().await;
    concurrent_application_puts_create_once(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_application_puts_create_once() {
    let schema = TestSchema::create("races_application_puts").await;
    let app = spawn_on_postgres(&schema).await;
    concurrent_application_puts_create_once(&app).await;
}

async fn concurrent_endpoint_puts_create_once(app: &TestClient) {
    let app_id = create_app(app).await;
    let path = format!("/app/{app_id}/endpoint/shared-endpoint");
    let descriptions: Vec<String> = (0..20).map(|index| format!("put {index}")).collect();
    let answers = join_all(descriptions.iter().map(|description| {
        let body = json!({"url": "http://127.0.0.1:9/hook", "description": description});
        app.request(Method::PUT, &path, Some(body))
    }))
    .await;
    assert_created_exactly_once(&answers, "description", &descriptions);
    let (status, listed) = app.get(&format!("/app/{app_id}/endpoint")).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_endpoint_puts_create_once_on_sqlite() {
    let app = TestApp::spawn().await;
    concurrent_endpoint_puts_create_once(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_endpoint_puts_create_once() {
    let schema = TestSchema::create("races_endpoint_puts").await;
    let app = spawn_on_postgres(&schema).await;
    concurrent_endpoint_puts_create_once(&app).await;
}

// --- sensitive headers ---

#[tokio::test]
async fn credential_headers_are_listed_as_sensitive_and_not_shown() {
    let app = TestApp::spawn().await;
    let app_id = create_app(&app).await;
    let endpoint_id = create_endpoint(&app, &app_id).await;
    let path = format!("/app/{app_id}/endpoint/{endpoint_id}/headers");
    let headers = json!({"headers": {
        "Authorization": "Bearer secret-1",
        "Cookie": "session=secret-2",
        "Proxy-Authorization": "Basic secret-3",
        "X-Api-Key": "secret-4",
        "X-Team": "core",
    }});
    let (status, body) = app.request(Method::PUT, &path, Some(headers)).await;
    assert_eq!(status, 204, "{body}");
    let (status, shown) = app.get(&path).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["headers"], json!({"X-Team": "core"}));
    let mut sensitive: Vec<String> = serde_json::from_value(shown["sensitive"].clone()).unwrap();
    sensitive.sort();
    assert_eq!(
        sensitive,
        [
            "Authorization",
            "Cookie",
            "Proxy-Authorization",
            "X-Api-Key"
        ]
    );
    assert!(!shown.to_string().contains("secret-"), "{shown}");
}

// --- the SSRF re-check on PUT ---

/// Resolves every name to a public address until `rebound` is set, then to loopback.
#[derive(Default)]
struct SwitchableResolver {
    rebound: AtomicBool,
}

impl Resolver for SwitchableResolver {
    fn resolve(&self, _host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        // 93.184.216.34 is a public address; nothing ever connects to it in this test.
        let ip = if self.rebound.load(Ordering::SeqCst) {
            Ipv4Addr::LOCALHOST
        } else {
            Ipv4Addr::new(93, 184, 216, 34)
        };
        Box::pin(async move { Ok(vec![IpAddr::V4(ip)]) })
    }
}

#[tokio::test]
async fn an_endpoint_put_that_keeps_its_host_is_checked_again() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = test_config(data_dir.path());
    config.allow_private_targets = false;
    let resolver = Arc::new(SwitchableResolver::default());
    let deps = Dependencies {
        clock: Arc::new(SystemClock),
        resolver: resolver.clone(),
    };
    let server = app::start(config, deps).await.unwrap();
    let app = TestApp::attach(&server);
    let app_id = create_app(&app).await;
    let url = "http://rebind.test/hook";
    let (status, endpoint) = app
        .post(&format!("/app/{app_id}/endpoint"), json!({"url": url}))
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let path = format!(
        "/app/{app_id}/endpoint/{}",
        endpoint["id"].as_str().unwrap()
    );

    resolver.rebound.store(true, Ordering::SeqCst);
    let (status, refused) = app
        .request(
            Method::PUT,
            &path,
            Some(json!({"url": url, "description": "same host"})),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["detail"][0]["loc"], json!(["body", "url"]));
    let (_, unchanged) = app.get(&path).await;
    assert_eq!(
        unchanged["description"], "",
        "a refused PUT changed nothing"
    );
    server.shutdown().await.unwrap();
}
