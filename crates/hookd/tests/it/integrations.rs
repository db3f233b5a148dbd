//! Svix's integrations through the API: CRUD (admin only), a key that authenticates as its
//! own application and nothing else, shown once by `rotate` and never listed, the previous key
//! refused at once after a rotation, and every key ending with its integration or application;
//! each bad input a 422 or 404 that changes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::TestApp;

async fn as_key(app: &TestApp, key: &str, method: Method, path: &str) -> (u16, Value) {
    let mut request = app
        .http
        .request(method.clone(), app.url(path))
        .bearer_auth(key);
    if method == Method::POST {
        request = request.json(&json!({"name": "by key", "url": "http://127.0.0.1:9/x"}));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn new_app(app: &TestApp, uid: &str) -> String {
    let (status, created) = app.post("/app", json!({"name": uid, "uid": uid})).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn new_integration(app: &TestApp, app_id: &str, body: Value) -> Value {
    let (status, created) = app.post(&format!("/app/{app_id}/integration"), body).await;
    assert_eq!(status, 201, "{created}");
    created
}

async fn rotate(app: &TestApp, app_id: &str, integ_id: &str) -> String {
    let (status, rotated) = app
        .post(
            &format!("/app/{app_id}/integration/{integ_id}/key/rotate"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let key = rotated["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("integsk_"), "{key}");
    key
}

#[tokio::test]
async fn integrations_are_created_read_listed_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let app_id = new_app(&app, "crm").await;
    let created = new_integration(
        &app,
        &app_id,
        json!({"name": "Zapier", "featureFlags": ["beta", "alpha", "beta"]}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("integ_") && id.len() == 33, "{id}");
    assert_eq!(created["name"], "Zapier");
    assert_eq!(created["featureFlags"], json!(["alpha", "beta"]));
    assert_eq!(created["createdAt"], created["updatedAt"]);
    assert!(created.get("key").is_none(), "{created}");

    // By the application's uid too.
    let (status, got) = app.get(&format!("/app/crm/integration/{id}")).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got, created);

    let plain = new_integration(&app, &app_id, json!({"name": "Make"})).await;
    assert_eq!(plain["featureFlags"], json!([]));
    let (status, first) = app.get(&format!("/app/{app_id}/integration?limit=1")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"][0]["id"], plain["id"], "newest first");
    assert_eq!(first["done"], false);
    let iterator = first["iterator"].as_str().unwrap();
    let (_, second) = app
        .get(&format!(
            "/app/{app_id}/integration?limit=1&iterator={iterator}"
        ))
        .await;
    assert_eq!(second["data"][0]["id"], created["id"]);
    assert_eq!(second["done"], true);
    let (_, ascending) = app
        .get(&format!("/app/{app_id}/integration?order=ascending"))
        .await;
    assert_eq!(ascending["data"][0]["id"], created["id"]);

    let (status, updated) = app
        .request(
            Method::PUT,
            &format!("/app/{app_id}/integration/{id}"),
            Some(json!({"name": "Zapier 2", "featureFlags": ["gamma"]})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Zapier 2");
    assert_eq!(updated["featureFlags"], json!(["gamma"]));
    assert_eq!(updated["createdAt"], created["createdAt"]);
    let (_, cleared) = app
        .request(
            Method::PUT,
            &format!("/app/{app_id}/integration/{id}"),
            Some(json!({"name": "Zapier 3"})),
        )
        .await;
    assert_eq!(cleared["featureFlags"], json!([]), "a full update");

    let (status, body) = app
        .request(
            Method::DELETE,
            &format!("/app/{app_id}/integration/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = app.get(&format!("/app/{app_id}/integration/{id}")).await;
    assert_eq!(status, 404);
    let (_, listed) = app.get(&format!("/app/{app_id}/integration")).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_key_reaches_its_own_application_only_and_is_never_listed() {
    let app = TestApp::spawn().await;
    let app_id = new_app(&app, "own").await;
    let other_id = new_app(&app, "other").await;
    let (status, endpoint) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let integration = new_integration(&app, &app_id, json!({"name": "reader"})).await;
    let integ_id = integration["id"].as_str().unwrap();
    let key = rotate(&app, &app_id, integ_id).await;

    for path in [
        format!("/app/{app_id}/endpoint"),
        "/app/own/endpoint".to_owned(),
    ] {
        let (status, listed) = as_key(&app, &key, Method::GET, &path).await;
        assert_eq!(status, 200, "{path}: {listed}");
        assert_eq!(listed["data"][0]["id"], endpoint["id"]);
    }
    let (status, made) = as_key(&app, &key, Method::POST, &format!("/app/{app_id}/endpoint")).await;
    assert_eq!(status, 201, "a key may write its application: {made}");

    let refused = [
        (Method::GET, format!("/app/{other_id}/endpoint")),
        (Method::GET, "/app/other".to_owned()),
        (Method::GET, "/app".to_owned()),
        (Method::POST, "/event-type".to_owned()),
        (Method::GET, format!("/app/{app_id}/integration")),
        (Method::GET, format!("/app/{app_id}/token")),
        (
            Method::POST,
            format!("/app/{app_id}/integration/{integ_id}/key/rotate"),
        ),
    ];
    for (method, path) in refused {
        let (status, body) = as_key(&app, &key, method.clone(), &path).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
    }

    let (_, listed) = app.get(&format!("/app/{app_id}/integration")).await;
    let (_, got) = app
        .get(&format!("/app/{app_id}/integration/{integ_id}"))
        .await;
    for shown in [listed, got] {
        assert!(!shown.to_string().contains(&key), "{shown}");
    }
}

#[tokio::test]
async fn rotating_deleting_or_deleting_the_application_ends_the_key_at_once() {
    let app = TestApp::spawn().await;
    let app_id = new_app(&app, "rotating").await;
    let integ_id = new_integration(&app, &app_id, json!({"name": "r"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let endpoints = format!("/app/{app_id}/endpoint");
    let old = rotate(&app, &app_id, &integ_id).await;
    assert_eq!(as_key(&app, &old, Method::GET, &endpoints).await.0, 200);
    let new = rotate(&app, &app_id, &integ_id).await;
    assert_ne!(old, new);
    assert_eq!(as_key(&app, &old, Method::GET, &endpoints).await.0, 401);
    assert_eq!(as_key(&app, &new, Method::GET, &endpoints).await.0, 200);

    let (status, _) = app
        .request(
            Method::DELETE,
            &format!("/app/{app_id}/integration/{integ_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(as_key(&app, &new, Method::GET, &endpoints).await.0, 401);

    let second = new_integration(&app, &app_id, json!({"name": "s"})).await;
    let key = rotate(&app, &app_id, second["id"].as_str().unwrap()).await;
    assert_eq!(as_key(&app, &key, Method::GET, &endpoints).await.0, 200);
    let (status, _) = app
        .request(Method::DELETE, &format!("/app/{app_id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(as_key(&app, &key, Method::GET, &endpoints).await.0, 401);
    let (status, _) = app.get(&format!("/app/{app_id}/integration")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_inputs_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let app_id = new_app(&app, "strict").await;
    let other_id = new_app(&app, "neighbour").await;
    let kept = new_integration(
        &app,
        &app_id,
        json!({"name": "kept", "featureFlags": ["keep"]}),
    )
    .await;
    let kept_id = kept["id"].as_str().unwrap();
    let foreign = new_integration(&app, &other_id, json!({"name": "foreign"})).await;
    let foreign_id = foreign["id"].as_str().unwrap();

    let too_many: Vec<String> = (0..26).map(|n| format!("f{n}")).collect();
    let bodies: Vec<(Value, Value)> = vec![
        (json!({"name": ""}), json!(["body", "name"])),
        (json!({"name": "   "}), json!(["body", "name"])),
        (json!({"name": "n".repeat(257)}), json!(["body", "name"])),
        (json!({"name": "a\u{202e}b"}), json!(["body", "name"])),
        (json!({}), json!(["body", "name"])),
        (json!({"name": 5}), json!(["body", "name"])),
        (
            json!({"name": "x", "featureFlags": ["ok", "not ok"]}),
            json!(["body", "featureFlags", "1"]),
        ),
        (
            json!({"name": "x", "featureFlags": [""]}),
            json!(["body", "featureFlags", "0"]),
        ),
        (
            json!({"name": "x", "featureFlags": ["f".repeat(257)]}),
            json!(["body", "featureFlags", "0"]),
        ),
        (
            json!({"name": "x", "featureFlags": too_many}),
            json!(["body", "featureFlags"]),
        ),
        (
            json!({"name": "x", "featureFlags": "beta"}),
            json!(["body", "featureFlags"]),
        ),
    ];
    let create = format!("/app/{app_id}/integration");
    let update = format!("/app/{app_id}/integration/{kept_id}");
    for (body, loc) in &bodies {
        for (method, path) in [(Method::POST, &create), (Method::PUT, &update)] {
            let (status, answer) = app.request(method.clone(), path, Some(body.clone())).await;
            assert_eq!(status, 422, "{method} {body}: {answer}");
            assert_eq!(
                answer["detail"][0]["loc"], *loc,
                "{method} {body}: {answer}"
            );
        }
    }

    let missing = "integ_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    for id in [missing, "not-an-id", foreign_id] {
        let one = format!("/app/{app_id}/integration/{id}");
        let calls = [
            (Method::GET, one.clone(), None),
            (Method::PUT, one.clone(), Some(json!({"name": "n"}))),
            // 404 before 422: an unknown integration with a bad body.
            (Method::PUT, one.clone(), Some(json!({"name": ""}))),
            (Method::DELETE, one.clone(), None),
            (Method::POST, format!("{one}/key/rotate"), Some(json!({}))),
        ];
        for (method, path, body) in calls {
            let (status, answer) = app.request(method.clone(), &path, body).await;
            assert_eq!(status, 404, "{method} {path}: {answer}");
            assert_eq!(answer["code"], "not_found", "{answer}");
        }
    }
    let (status, _) = app
        .post("/app/app_missing/integration", json!({"name": "n"}))
        .await;
    assert_eq!(status, 404);

    let (_, listed) = app.get(&create).await;
    assert_eq!(listed["data"], json!([kept]), "nothing changed");
    let (_, foreign_now) = app
        .get(&format!("/app/{other_id}/integration/{foreign_id}"))
        .await;
    assert_eq!(foreign_now, foreign);
}

#[tokio::test]
async fn a_key_sees_the_event_types_its_feature_flags_flag() {
    let app = TestApp::spawn().await;
    let app_id = new_app(&app, "flags").await;
    for (name, flag) in [("plain.event", None), ("beta.event", Some("beta"))] {
        let (status, created) = app
            .post(
                "/event-type",
                json!({"name": name, "description": name, "featureFlag": flag}),
            )
            .await;
        assert_eq!(status, 201, "{created}");
    }
    let names = |listed: &Value| {
        let mut names: Vec<String> = listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event_type| event_type["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    let flagged = new_integration(
        &app,
        &app_id,
        json!({"name": "with", "featureFlags": ["beta"]}),
    )
    .await;
    let unflagged = new_integration(&app, &app_id, json!({"name": "without"})).await;
    for (integration, expected, beta_status) in [
        (&flagged, vec!["beta.event", "plain.event"], 200),
        (&unflagged, vec!["plain.event"], 404),
    ] {
        let key = rotate(&app, &app_id, integration["id"].as_str().unwrap()).await;
        let (status, listed) = as_key(&app, &key, Method::GET, "/event-type").await;
        assert_eq!(status, 200, "{listed}");
        assert_eq!(names(&listed), expected, "{integration}");
        let (status, got) = as_key(&app, &key, Method::GET, "/event-type/beta.event").await;
        assert_eq!(status, beta_status, "{integration}: {got}");
    }
}
