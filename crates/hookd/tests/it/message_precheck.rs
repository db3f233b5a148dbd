//! `POST /app/{app}/msg/precheck/active` (Svix `message.precheck`): whether a message would
//! reach an endpoint, by fan-out's own rule, without sending anything.

use serde_json::{Value, json};

use crate::harness::TestApp;

async fn precheck(app: &TestApp, app_id: &str, body: Value) -> (u16, Value) {
    app.post(&format!("/app/{app_id}/msg/precheck/active"), body)
        .await
}

async fn active(app: &TestApp, app_id: &str, body: Value) -> bool {
    let (status, answer) = precheck(app, app_id, body).await;
    assert_eq!(status, 200, "{answer}");
    answer["active"].as_bool().expect("a boolean")
}

#[tokio::test]
async fn precheck_follows_the_fan_out_rule_and_sends_nothing() {
    let app = TestApp::spawn().await;
    let (status, created) = app.post("/app", json!({"name": "shop"})).await;
    assert_eq!(status, 201, "{created}");
    let app_id = created["id"].as_str().unwrap().to_owned();
    let paid = json!({"eventType": "invoice.paid"});
    assert!(
        !active(&app, &app_id, paid.clone()).await,
        "no endpoint yet"
    );

    let endpoints = format!("/app/{app_id}/endpoint");
    let (status, filtered) = app
        .post(
            &endpoints,
            json!({"url": "http://127.0.0.1:9/a", "filterTypes": ["invoice.voided"],
                   "channels": ["eu"]}),
        )
        .await;
    assert_eq!(status, 201, "{filtered}");
    assert!(!active(&app, &app_id, paid.clone()).await, "filtered out");
    assert!(
        !active(&app, &app_id, json!({"eventType": "invoice.voided"})).await,
        "the right type but on no channel of the endpoint's"
    );
    assert!(
        active(
            &app,
            &app_id,
            json!({"eventType": "invoice.voided", "channels": ["us", "eu"]})
        )
        .await
    );

    let (status, open) = app
        .post(
            &endpoints,
            json!({"url": "http://127.0.0.1:9/b", "disabled": true}),
        )
        .await;
    assert_eq!(status, 201, "{open}");
    assert!(
        !active(&app, &app_id, paid.clone()).await,
        "a disabled endpoint gets nothing"
    );
    let open_id = open["id"].as_str().unwrap();
    let (status, _) = app
        .request(
            reqwest::Method::PATCH,
            &format!("{endpoints}/{open_id}"),
            Some(json!({"disabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(active(&app, &app_id, paid.clone()).await);

    // By uid too; and no message was created by any of it.
    let (_, messages) = app.get(&format!("/app/{app_id}/msg")).await;
    assert_eq!(messages["data"], json!([]), "{messages}");
}

#[tokio::test]
async fn precheck_refuses_bad_bodies_naming_the_field() {
    let app = TestApp::spawn().await;
    let (app_id, _) = app.app_with_endpoint("http://127.0.0.1:9/hook").await;
    let check = |body: Value, loc: Value| {
        let app = &app;
        let app_id = &app_id;
        async move {
            let (status, answer) = precheck(app, app_id, body.clone()).await;
            assert_eq!(status, 422, "{body}: {answer}");
            assert_eq!(answer["detail"][0]["loc"], loc, "{body}: {answer}");
        }
    };
    check(
        json!({"eventType": "not a type!"}),
        json!(["body", "eventType"]),
    )
    .await;
    check(
        json!({"eventType": "a", "channels": ["ok", "not ok!"]}),
        json!(["body", "channels", "1"]),
    )
    .await;
    let eleven: Vec<String> = (0..11).map(|n| format!("c{n}")).collect();
    check(
        json!({"eventType": "a", "channels": eleven}),
        json!(["body", "channels"]),
    )
    .await;
    let (status, answer) = precheck(&app, &app_id, json!({"channels": []})).await;
    assert_eq!(status, 422, "{answer}");
    let (status, answer) = precheck(&app, "app_missing", json!({"eventType": "a"})).await;
    assert_eq!((status, &answer["code"]), (404, &json!("not_found")));
}
