//! Svix's `featureFlags` and `capabilities` on app-portal tokens: a flagged event type is
//! hidden from a token without its flag (listing, reading, subscribing), the admin sees every
//! one; a token with a capability list reaches only what its capabilities allow, checked for
//! each capability against a route of every kind of need; bad lists are 422 naming the field.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TOKEN, TestApp};

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> (u16, Value) {
    let mut request = app
        .http
        .request(method.clone(), app.url(path))
        .bearer_auth(token);
    if method != Method::GET && method != Method::DELETE {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn portal_token(app: &TestApp, body: Value) -> String {
    let (status, access) = app.post("/auth/app-portal-access/shop", body).await;
    assert_eq!(status, 200, "{access}");
    access["token"].as_str().unwrap().to_owned()
}

async fn catalogue(app: &TestApp) {
    let (status, created) = app
        .post("/app", json!({"name": "shop", "uid": "shop"}))
        .await;
    assert_eq!(status, 201, "{created}");
    for (name, flag) in [
        ("plain.a", None),
        ("beta.b", Some("beta")),
        ("gamma.c", Some("gamma")),
    ] {
        let (status, created) = app
            .post(
                "/event-type",
                json!({"name": name, "description": "d", "featureFlag": flag}),
            )
            .await;
        assert_eq!(status, 201, "{created}");
    }
}

fn names(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event_type| event_type["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn feature_flags_hide_flagged_event_types_from_list_get_and_subscribe() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;
    let none = portal_token(&app, json!({})).await;
    let beta = portal_token(&app, json!({"featureFlags": ["beta"]})).await;
    let get = |token: String, path: &'static str| {
        let app = &app;
        async move { call(app, &token, Method::GET, path, Value::Null).await }
    };

    // Listing: the admin every type; a token the unflagged ones and those of its flags.
    let (_, all) = get(TOKEN.to_owned(), "/event-type").await;
    assert_eq!(names(&all), ["beta.b", "gamma.c", "plain.a"]);
    let (_, listed) = get(none.clone(), "/event-type").await;
    assert_eq!(names(&listed), ["plain.a"]);
    let (_, listed) = get(beta.clone(), "/event-type").await;
    assert_eq!(names(&listed), ["beta.b", "plain.a"]);

    // Reading one: a hidden type is as missing.
    let cases = [
        (TOKEN.to_owned(), "/event-type/gamma.c", 200),
        (none.clone(), "/event-type/plain.a", 200),
        (none.clone(), "/event-type/beta.b", 404),
        (beta.clone(), "/event-type/beta.b", 200),
        (beta.clone(), "/event-type/gamma.c", 404),
    ];
    for (token, path, expected) in cases {
        let (status, answer) = get(token, path).await;
        assert_eq!(status, expected, "{path}: {answer}");
    }

    // Subscribing: a hidden type is refused as Svix refuses a missing one, nothing created.
    let endpoint = |types: &[&str]| json!({"url": "http://127.0.0.1:9/hook", "filterTypes": types});
    let subscribe = [
        (none.clone(), vec!["plain.a"], 201),
        (none.clone(), vec!["plain.a", "beta.b"], 422),
        (beta.clone(), vec!["beta.b"], 201),
        (beta.clone(), vec!["gamma.c"], 422),
        (TOKEN.to_owned(), vec!["gamma.c"], 201),
    ];
    for (token, types, expected) in subscribe {
        let (status, answer) = call(
            &app,
            &token,
            Method::POST,
            "/app/shop/endpoint",
            endpoint(&types),
        )
        .await;
        assert_eq!(status, expected, "{types:?}: {answer}");
        if expected == 422 {
            assert_eq!(
                answer["detail"][0]["loc"],
                json!(["body", "filterTypes"]),
                "{answer}"
            );
        }
    }
    let (_, endpoints) = app.get("/app/shop/endpoint").await;
    assert_eq!(
        endpoints["data"].as_array().unwrap().len(),
        3,
        "refusals created nothing"
    );

    // Changing an endpoint: a hidden type may not be added, one the admin set may stay.
    let admins = endpoints["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|endpoint| endpoint["filterTypes"] == json!(["gamma.c"]))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/app/shop/endpoint/{admins}");
    let keep = json!({"description": "renamed"});
    let (status, answer) = call(&app, &none, Method::PATCH, &path, keep).await;
    assert_eq!(status, 200, "the admin's subscription stays: {answer}");
    let add = json!({"filterTypes": ["gamma.c", "beta.b"]});
    let (status, answer) = call(&app, &none, Method::PATCH, &path, add).await;
    assert_eq!(status, 422, "{answer}");
    let put = json!({"url": "http://127.0.0.1:9/hook", "filterTypes": ["beta.b"]});
    let (status, answer) = call(&app, &none, Method::PUT, &path, put).await;
    assert_eq!(status, 422, "{answer}");
    let (_, stored) = app.get(&path).await;
    assert_eq!(stored["filterTypes"], json!(["gamma.c"]), "nothing changed");
}

/// Which capabilities allow which route: for each capability list, one route of each need.
#[tokio::test]
async fn capabilities_allow_only_their_routes() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;
    let (status, endpoint) = app
        .post(
            "/app/shop/endpoint",
            json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let ep = endpoint["id"].as_str().unwrap().to_owned();
    let msg = app.send_message("shop", json!({"n": 1})).await;
    let routes: Vec<(&str, Method, String, Value)> = vec![
        (
            "read",
            Method::GET,
            format!("/app/shop/endpoint/{ep}"),
            Value::Null,
        ),
        (
            "secret",
            Method::GET,
            format!("/app/shop/endpoint/{ep}/secret"),
            Value::Null,
        ),
        (
            "rotate",
            Method::POST,
            format!("/app/shop/endpoint/{ep}/secret/rotate"),
            json!({}),
        ),
        (
            "transform",
            Method::PATCH,
            format!("/app/shop/endpoint/{ep}/transformation"),
            json!({"enabled": false}),
        ),
        (
            "resend",
            Method::POST,
            format!("/app/shop/msg/{msg}/endpoint/{ep}/resend"),
            json!({}),
        ),
        (
            "manage",
            Method::PATCH,
            format!("/app/shop/endpoint/{ep}"),
            json!({"description": "x"}),
        ),
        (
            "message",
            Method::POST,
            "/app/shop/msg".to_owned(),
            json!({"eventType": "plain.a", "payload": {}}),
        ),
    ];
    // Each row: the capabilities, then the routes (by label) they allow.
    let table: [(Option<&[&str]>, &[&str]); 8] = [
        (
            None,
            &[
                "read",
                "secret",
                "rotate",
                "transform",
                "resend",
                "manage",
                "message",
            ],
        ),
        (Some(&["ViewBase"]), &["read"]),
        (
            Some(&["ViewBase", "ViewEndpointSecret"]),
            &["read", "secret"],
        ),
        (
            Some(&["ViewBase", "ManageEndpointSecret"]),
            &["read", "secret", "rotate"],
        ),
        (
            Some(&["ViewBase", "ManageTransformations"]),
            &["read", "transform"],
        ),
        (Some(&["ViewBase", "CreateAttempts"]), &["read", "resend"]),
        (
            Some(&["ViewBase", "ManageEndpoint"]),
            &["read", "secret", "rotate", "manage"],
        ),
        (
            Some(&[
                "ViewBase",
                "ViewEndpointSecret",
                "ManageEndpointSecret",
                "ManageTransformations",
                "CreateAttempts",
                "ManageEndpoint",
            ]),
            &["read", "secret", "rotate", "transform", "resend", "manage"],
        ),
    ];
    let mut failures = Vec::new();
    for (capabilities, allowed) in table {
        let body = match capabilities {
            Some(capabilities) => json!({"capabilities": capabilities}),
            None => json!({}),
        };
        let token = portal_token(&app, body).await;
        for (label, method, path, body) in &routes {
            let (status, answer) = call(&app, &token, method.clone(), path, body.clone()).await;
            let refused = status == 403;
            if refused == allowed.contains(label) || status >= 500 {
                failures.push(format!("{capabilities:?} {label}: {status} {answer}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn bad_grants_are_refused_naming_the_field_and_grants_are_kept() {
    let app = TestApp::spawn().await;
    catalogue(&app).await;
    let cases = [
        (
            json!({"capabilities": ["ViewBase", "Fly"]}),
            json!(["body", "capabilities", "1"]),
        ),
        (
            json!({"capabilities": ["CreateAttempts"]}),
            json!(["body", "capabilities"]),
        ),
        (json!({"capabilities": "ViewBase"}), json!(["body"])),
        (
            json!({"featureFlags": ["ok", ""]}),
            json!(["body", "featureFlags", "1"]),
        ),
        (
            json!({"featureFlags": ["x".repeat(257)]}),
            json!(["body", "featureFlags", "0"]),
        ),
        (
            json!({"featureFlags": ["has space"]}),
            json!(["body", "featureFlags", "0"]),
        ),
        (
            json!({"featureFlags": vec!["f"; 65]}),
            json!(["body", "featureFlags"]),
        ),
    ];
    for (body, loc) in cases {
        let (status, answer) = app.post("/auth/app-portal-access/shop", body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        let got = &answer["detail"][0]["loc"];
        let prefix = loc.as_array().unwrap();
        assert_eq!(
            &got.as_array().unwrap()[..prefix.len()],
            &prefix[..],
            "{body}: {answer}"
        );
        let (status, answer) = app.post("/app/shop/token", body.clone()).await;
        assert_eq!(status, 422, "hookd's own issue too: {body}: {answer}");
    }
    let (_, listed) = app.get("/app/shop/token").await;
    assert_eq!(listed["data"], json!([]), "nothing was issued");

    let body = json!({"featureFlags": ["beta"], "capabilities": ["ViewBase", "CreateAttempts"]});
    let (status, issued) = app.post("/app/shop/token", body).await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["featureFlags"], json!(["beta"]));
    assert_eq!(
        issued["capabilities"],
        json!(["ViewBase", "CreateAttempts"])
    );
    let (_, listed) = app.get("/app/shop/token").await;
    assert_eq!(
        listed["data"][0]["capabilities"],
        json!(["ViewBase", "CreateAttempts"])
    );
}
