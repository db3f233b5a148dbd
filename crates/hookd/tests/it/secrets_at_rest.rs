//! Secrets at rest on SQLite: with `HOOKD_ENCRYPTION_KEY` set, none of the secrets hookd was
//! given (an endpoint's signing secret, custom header, bearer token; an inbound source's
//! secret) appear in the database files, the WAL or the shared-memory file, while the API
//! still shows them and deliveries are signed and sent with them. Key rotation with
//! `hookd rotate-key`, run beside the server, and a server without the key refusing to start.
//! The same scenario runs on PostgreSQL in `postgres_secrets_at_rest`.

use std::time::Duration;

use base64::Engine;
use serde_json::json;
use webhook_signature::github;

use crate::harness::{Receiver, TestApp, verify_signature};
use crate::idempotency::post_with_key;
use crate::inbound::{SOURCES, deliver};

const WAIT: Duration = Duration::from_secs(15);

pub(crate) const KEY_A: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
pub(crate) const KEY_B: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The raw bytes of the signing secret; the API shows them as `whsec_<base64>`.
const SIGNING_KEY_BYTES: &[u8] = b"known-signing-secret-32-bytes!!!";
const HEADER_VALUE: &str = "header-token-KNOWN-7f3a9c";
const BEARER_TOKEN: &str = "bearer-token-KNOWN-51e2d0";
const SOURCE_SECRET: &str = "source-secret-KNOWN-a8d04b";

pub(crate) fn signing_secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(SIGNING_KEY_BYTES)
    )
}

/// Every string that must never be found in the database when a key is set.
pub(crate) fn known_strings() -> Vec<String> {
    let secret = signing_secret();
    vec![
        secret.trim_start_matches("whsec_").to_owned(),
        HEADER_VALUE.to_owned(),
        BEARER_TOKEN.to_owned(),
        SOURCE_SECRET.to_owned(),
    ]
}

/// What the scenario created, and the receivers it delivers to.
pub(crate) struct Known {
    app_id: String,
    endpoint_id: String,
    ingest_url: String,
    receiver: Receiver,
    inbound_receiver: Receiver,
    checks: usize,
}

pub(crate) fn with_keys(
    newest: Option<&str>,
    older: Option<&str>,
) -> impl FnOnce(&mut hookd::config::Config) {
    let (newest, older) = (newest.map(str::to_owned), older.map(str::to_owned));
    move |config| {
        config.encryption.encryption_key = newest;
        config.encryption.encryption_old_keys = older;
    }
}

/// Creates an endpoint with a known secret, bearer token and custom header, and a GitHub
/// source with a known secret (plus its ingest endpoint).
pub(crate) async fn create_known(app: &TestApp) -> Known {
    let receiver = Receiver::start(vec![]).await;
    let inbound_receiver = Receiver::start(vec![]).await;
    let (status, application) = app.post("/app", json!({"name": "secrets"})).await;
    assert_eq!(status, 201, "{application}");
    let app_id = application["id"].as_str().unwrap().to_owned();
    let (status, endpoint) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({
                "url": receiver.url,
                "auth": {"type": "bearer", "token": BEARER_TOKEN},
            }),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
    // The known secret is set by a rotation under an Idempotency-Key, as the SDK sends it: its
    // answer (which shows the secret) is kept for replays, and must be kept sealed too.
    let rotate = format!("/app/{app_id}/endpoint/{endpoint_id}/secret/rotate");
    let body = json!({"key": signing_secret(), "gracePeriodSeconds": 0});
    let key = format!("auto_rotate_{endpoint_id}");
    let (status, replayed, first) = post_with_key(app, &rotate, &key, &body).await;
    assert_eq!((status, replayed), (200, false), "{first}");
    assert_eq!(first["key"], signing_secret().as_str(), "{first}");
    let (status, replayed, again) = post_with_key(app, &rotate, &key, &body).await;
    assert_eq!((status, replayed, &again), (200, true, &first));
    let (status, body) = app
        .request(
            reqwest::Method::PUT,
            &format!("/app/{app_id}/endpoint/{endpoint_id}/headers"),
            Some(json!({"headers": {"x-custom-token": HEADER_VALUE}})),
        )
        .await;
    assert!(status < 300, "{status} {body}");
    let (status, source) = app
        .ingest(
            reqwest::Method::POST,
            SOURCES,
            Some(json!({"name": "gh", "type": "github", "config": {"secret": SOURCE_SECRET}})),
        )
        .await;
    assert_eq!(status, 201, "{source}");
    let source_id = source["id"].as_str().unwrap();
    let (status, ingest_endpoint) = app
        .ingest(
            reqwest::Method::POST,
            &format!("{SOURCES}/{source_id}/endpoint"),
            Some(json!({"url": inbound_receiver.url})),
        )
        .await;
    assert_eq!(status, 201, "{ingest_endpoint}");
    Known {
        app_id,
        endpoint_id,
        ingest_url: source["ingestUrl"].as_str().unwrap().to_owned(),
        receiver,
        inbound_receiver,
        checks: 0,
    }
}

/// The API shows the endpoint's secret and header, a message is delivered signed with the
/// secret and carrying the header and bearer token, and a request signed with the source's
/// secret is accepted and forwarded.
pub(crate) async fn check_known_work(app: &TestApp, known: &mut Known) {
    let endpoint_path = format!("/app/{}/endpoint/{}", known.app_id, known.endpoint_id);
    assert_eq!(
        app.endpoint_secret(&known.app_id, &known.endpoint_id).await,
        signing_secret()
    );
    let (status, headers) = app.get(&format!("{endpoint_path}/headers")).await;
    assert_eq!(status, 200, "{headers}");
    assert_eq!(
        headers["headers"]["x-custom-token"], HEADER_VALUE,
        "{headers}"
    );

    known.checks += 1;
    app.send_message(&known.app_id, json!({"check": known.checks}))
        .await;
    let received = known.receiver.wait_for(known.checks, WAIT).await;
    let last = &received[known.checks - 1];
    verify_signature(last, &signing_secret());
    assert_eq!(last.header("x-custom-token"), HEADER_VALUE);
    assert_eq!(
        last.header("authorization"),
        format!("Bearer {BEARER_TOKEN}")
    );

    let body = format!(r#"{{"check":{}}}"#, known.checks).into_bytes();
    let headers = vec![
        (
            "x-hub-signature-256",
            github::sign(SOURCE_SECRET.as_bytes(), &body),
        ),
        ("x-github-delivery", format!("delivery-{}", known.checks)),
        ("x-github-event", "push".to_owned()),
    ];
    // The ingest URL names the host it was created on; a restarted server has a new port.
    let path = &known.ingest_url[known.ingest_url.find("/ingest/").unwrap()..];
    let (status, answer) = deliver(&format!("{}{path}", app.base), &headers, &body).await;
    assert!(status < 300, "{status} {answer}");
    let forwarded = known.inbound_receiver.wait_for(known.checks, WAIT).await;
    assert_eq!(forwarded[known.checks - 1].body, body);
}

/// Which of `known_strings` occur in `haystack`.
pub(crate) fn found_in(haystack: &[u8]) -> Vec<String> {
    known_strings()
        .into_iter()
        .filter(|needle| {
            haystack
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
        })
        .collect()
}

/// The bytes of SQLite's database, WAL and shared-memory files, as they are on disk now.
fn sqlite_files(app: &TestApp) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["hookd.db", "hookd.db-wal", "hookd.db-shm"] {
        if let Ok(file) = std::fs::read(app.data_dir().join(name)) {
            bytes.extend(file);
        }
    }
    bytes
}

#[tokio::test]
async fn with_a_key_no_secret_reaches_the_sqlite_files_and_all_still_work() {
    let mut app = TestApp::spawn_with(with_keys(Some(KEY_A), None)).await;
    let mut known = create_known(&app).await;
    check_known_work(&app, &mut known).await;
    // While running (the WAL holds the recent writes) and after a clean stop (checkpointed).
    assert_eq!(found_in(&sqlite_files(&app)), Vec::<String>::new());
    app.restart().await;
    assert_eq!(found_in(&sqlite_files(&app)), Vec::<String>::new());
    check_known_work(&app, &mut known).await;
    app.stop().await;
    let files = sqlite_files(&app);
    assert_eq!(found_in(&files), Vec::<String>::new());
    assert!(
        files.windows(7).any(|window| window == b"enc:v1:"),
        "sealed values are stored"
    );
}

/// An issued app token, an app-portal token and a rotated integration key, each asked for with
/// an `Idempotency-Key` (twice: the retry replays the same answer); returns the three.
pub(crate) async fn issue_tokens_with_keys(app: &TestApp) -> Vec<String> {
    let (status, application) = app.post("/app", json!({"name": "tokens"})).await;
    assert_eq!(status, 201, "{application}");
    let app_id = application["id"].as_str().unwrap();
    let mut tokens = Vec::new();
    for (path, status_wanted) in [
        (format!("/app/{app_id}/token"), 201),
        (format!("/auth/app-portal-access/{app_id}"), 200),
    ] {
        let key = format!("auto_{path}");
        let (status, replayed, first) = post_with_key(app, &path, &key, &json!({})).await;
        assert_eq!((status, replayed), (status_wanted, false), "{first}");
        let (status, replayed, again) = post_with_key(app, &path, &key, &json!({})).await;
        assert_eq!((status, replayed, &again), (status_wanted, true, &first));
        tokens.push(first["token"].as_str().unwrap().to_owned());
    }
    let (status, integration) = app
        .post(
            &format!("/app/{app_id}/integration"),
            json!({"name": "crm"}),
        )
        .await;
    assert_eq!(status, 201, "{integration}");
    let path = format!(
        "/app/{app_id}/integration/{}/key/rotate",
        integration["id"].as_str().unwrap()
    );
    let (status, replayed, first) = post_with_key(app, &path, "auto_rotate", &json!({})).await;
    assert_eq!((status, replayed), (200, false), "{first}");
    let (status, replayed, again) = post_with_key(app, &path, "auto_rotate", &json!({})).await;
    assert_eq!((status, replayed, &again), (200, true, &first));
    tokens.push(first["key"].as_str().unwrap().to_owned());
    tokens
}

/// Which of `needles` occur in `haystack`.
fn occurring(haystack: &[u8], needles: &[String]) -> Vec<String> {
    needles
        .iter()
        .filter(|needle| {
            haystack
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn issued_tokens_kept_for_idempotent_replays_are_sealed() {
    let mut sealed = TestApp::spawn_with(with_keys(Some(KEY_A), None)).await;
    let tokens = issue_tokens_with_keys(&sealed).await;
    sealed.stop().await;
    assert_eq!(
        occurring(&sqlite_files(&sealed), &tokens),
        Vec::<String>::new()
    );
    // The control: without a key the same answers are stored as they were given.
    let mut plain = TestApp::spawn().await;
    let tokens = issue_tokens_with_keys(&plain).await;
    plain.stop().await;
    assert_eq!(occurring(&sqlite_files(&plain), &tokens), tokens);
}

#[tokio::test]
async fn without_a_key_secrets_are_stored_plain_as_before() {
    // The control for the test above: the same search finds every secret when none is sealed.
    let mut app = TestApp::spawn().await;
    let mut known = create_known(&app).await;
    check_known_work(&app, &mut known).await;
    app.stop().await;
    assert_eq!(found_in(&sqlite_files(&app)), known_strings());
}

#[tokio::test]
async fn a_server_without_the_key_refuses_to_start_and_says_which_key() {
    let mut app = TestApp::spawn_with(with_keys(Some(KEY_A), None)).await;
    create_known(&app).await;
    for keys in [(None, None), (Some(KEY_B), None)] {
        let error = app
            .restart_with(with_keys(keys.0, keys.1))
            .await
            .expect_err("a server without key A must not start");
        let message = format!("{error:#}");
        assert!(
            message.contains("sealed with key") && message.contains("HOOKD_ENCRYPTION_KEY"),
            "{message}"
        );
    }
    let error = app
        .restart_with(with_keys(Some("not a key"), None))
        .await
        .expect_err("a malformed key is refused");
    assert!(
        format!("{error:#}").contains("HOOKD_ENCRYPTION_KEY"),
        "{error:#}"
    );
}

/// Runs `hookd rotate-key` with `args` and the keys; returns its standard output.
pub(crate) fn rotate_key(args: &[&str], newest: &str, older: Option<&str>) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"));
    command
        .arg("rotate-key")
        .args(args)
        .args(["--batch-size", "1"])
        .env("HOOKD_ENCRYPTION_KEY", newest)
        .env_remove("HOOKD_ENCRYPTION_OLD_KEYS")
        .env_remove("HOOKD_DATABASE_URL")
        .env("RUST_LOG", "warn");
    if let Some(older) = older {
        command.env("HOOKD_ENCRYPTION_OLD_KEYS", older);
    }
    let output = command.output().expect("hookd rotate-key runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "rotate-key failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn rotate_key_reseals_beside_a_running_server_and_the_old_key_can_go() {
    // Plain values from before a key was set, then values sealed with A.
    let mut app = TestApp::spawn().await;
    let mut plain = create_known(&app).await;
    app.restart_with(with_keys(Some(KEY_A), None))
        .await
        .unwrap();
    let mut sealed_a = create_known(&app).await;
    check_known_work(&app, &mut plain).await;

    // B becomes the newest key, A stays readable; rotate while the server runs.
    app.restart_with(with_keys(Some(KEY_B), Some(KEY_A)))
        .await
        .unwrap();
    let data_dir = app.data_dir().to_str().unwrap().to_owned();
    let output = rotate_key(&["--data-dir", &data_dir], KEY_B, Some(KEY_A));
    assert!(output.contains("0 values use an old key"), "{output}");
    assert!(output.contains(" of "), "progress is printed: {output}");
    // Run again: nothing left to do, nothing broken.
    let again = rotate_key(&["--data-dir", &data_dir], KEY_B, Some(KEY_A));
    assert!(again.contains(", 0 re-sealed"), "{again}");
    check_known_work(&app, &mut sealed_a).await;

    // Only B from now on: everything still reads, signs and verifies.
    app.restart_with(with_keys(Some(KEY_B), None))
        .await
        .unwrap();
    check_known_work(&app, &mut plain).await;
    check_known_work(&app, &mut sealed_a).await;
    app.stop().await;
    assert_eq!(found_in(&sqlite_files(&app)), Vec::<String>::new());
}

#[tokio::test]
async fn rotate_key_without_a_key_says_what_is_missing() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(["rotate-key", "--data-dir", "/nonexistent-hookd-dir"])
        .env_remove("HOOKD_ENCRYPTION_KEY")
        .env_remove("HOOKD_ENCRYPTION_OLD_KEYS")
        .output()
        .expect("hookd rotate-key runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("HOOKD_ENCRYPTION_KEY"), "{stderr}");
}
