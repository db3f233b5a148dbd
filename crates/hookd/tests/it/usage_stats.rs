//! The usage statistics over real HTTP, as Svix's SDK calls them: `POST /stats/usage/app`
//! (`application.stats`: message destinations per application in a window) and
//! `PUT /stats/usage/event-types` (`event-type.aggregate`), background tasks whose result the
//! task's `data` carries. Admin only; bad inputs start no task.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Receiver, TestApp};

const SETTLE: Duration = Duration::from_secs(10);

async fn new_app(app: &TestApp, uid: &str) -> String {
    let (status, created) = app.post("/app", json!({"name": uid, "uid": uid})).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn add_endpoint(app: &TestApp, app_id: &str, url: &str, filter: Option<Value>) {
    let mut body = json!({"url": url});
    if let Some(filter) = filter {
        body["filterTypes"] = filter;
    }
    let (status, endpoint) = app.post(&format!("/app/{app_id}/endpoint"), body).await;
    assert_eq!(status, 201, "{endpoint}");
}

async fn send(app: &TestApp, app_id: &str, event_type: &str) {
    let (status, message) = app
        .post(
            &format!("/app/{app_id}/msg"),
            json!({"eventType": event_type, "payload": {}}),
        )
        .await;
    assert_eq!(status, 202, "{message}");
}

async fn finished_task(app: &TestApp, task_id: &str) -> Value {
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        let (status, task) = app.get(&format!("/background-task/{task_id}")).await;
        assert_eq!(status, 200, "{task}");
        if task["status"] != "running" {
            assert_eq!(task["status"], "finished", "{task}");
            return task;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "task never ended: {task}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two applications: `shop` with a filtered endpoint and a catch-all, three messages (two of
/// which both endpoints take: 5 destinations); `blog` with one filtered endpoint and one message.
async fn scene(app: &TestApp, receiver: &Receiver) -> (String, String) {
    let shop = new_app(app, "shop").await;
    let blog = new_app(app, "blog").await;
    add_endpoint(
        app,
        &shop,
        &receiver.url,
        Some(json!(["user.created", "invoice.paid"])),
    )
    .await;
    add_endpoint(app, &shop, &receiver.url, None).await;
    add_endpoint(app, &blog, &receiver.url, Some(json!(["post.published"]))).await;
    send(app, &shop, "invoice.paid").await;
    send(app, &shop, "invoice.paid").await;
    send(app, &shop, "user.deleted").await;
    send(app, &blog, "post.published").await;
    (shop, blog)
}

fn row<'a>(rows: &'a Value, app_id: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|row| row["appId"] == app_id)
        .unwrap_or_else(|| panic!("{app_id} not in {rows}"))
}

#[tokio::test]
async fn app_stats_count_each_applications_destinations_in_the_window() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let (shop, blog) = scene(&app, &receiver).await;
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let until = (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339();

    let (status, started) = app
        .post("/stats/usage/app", json!({"since": since, "until": until}))
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["task"], "application.stats");
    assert_eq!(started["unresolvedAppIds"], json!([]));
    let task = finished_task(&app, started["id"].as_str().unwrap()).await;
    let rows = &task["data"]["appStats"];
    assert_eq!(
        rows.as_array().unwrap().len(),
        2,
        "only users' applications: {task}"
    );
    assert_eq!(row(rows, &shop)["messageDestinations"], 5, "{task}");
    assert_eq!(row(rows, &shop)["appUid"], "shop");
    assert_eq!(row(rows, &blog)["messageDestinations"], 1, "{task}");

    // Named applications only, by uid or id; names not found are handed back.
    let (status, started) = app
        .post(
            "/stats/usage/app",
            json!({"since": since, "until": until, "appIds": ["shop", "nope"]}),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["unresolvedAppIds"], json!(["nope"]));
    let task = finished_task(&app, started["id"].as_str().unwrap()).await;
    assert_eq!(
        task["data"]["appStats"],
        json!([{"appId": shop, "appUid": "shop", "messageDestinations": 5}])
    );

    // A window before the messages counts nothing.
    let earlier = (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339();
    let (_, started) = app
        .post(
            "/stats/usage/app",
            json!({"since": earlier, "until": since}),
        )
        .await;
    let task = finished_task(&app, started["id"].as_str().unwrap()).await;
    assert_eq!(
        row(&task["data"]["appStats"], &shop)["messageDestinations"],
        0
    );
}

#[tokio::test]
async fn bad_usage_requests_start_no_task_and_tokens_are_refused() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let (shop, _) = scene(&app, &receiver).await;
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let until = (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339();
    for (body, loc) in [
        (json!({"since": since}), json!(["body", "until"])),
        (
            json!({"since": until, "until": since}),
            json!(["body", "until"]),
        ),
        (
            json!({"since": since, "until": until, "appIds": ["nope"]}),
            json!(["body", "appIds"]),
        ),
        (
            json!({"since": since, "until": until, "appIds": []}),
            json!(["body", "appIds"]),
        ),
    ] {
        let (status, answer) = app.post("/stats/usage/app", body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], loc, "{body}: {answer}");
    }
    let (_, tasks) = app.get("/background-task").await;
    assert_eq!(tasks["data"], json!([]), "refusals started no task");

    let (status, issued) = app
        .post(&format!("/app/{shop}/token"), json!({"name": "t"}))
        .await;
    assert_eq!(status, 201, "{issued}");
    let token = issued["token"].as_str().unwrap();
    let call = |method: Method, path: &'static str, body: Option<Value>| {
        let mut request = app.http.request(method, app.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let body = json!({"since": since, "until": until});
    assert_eq!(
        call(Method::POST, "/stats/usage/app", Some(body)).await,
        403
    );
    assert_eq!(
        call(Method::PUT, "/stats/usage/event-types", None).await,
        403
    );
    // Nor may an application's token read the admin's usage task.
    let (status, started) = app
        .request(Method::PUT, "/stats/usage/event-types", None)
        .await;
    assert_eq!(status, 202, "{started}");
    let task_id = started["id"].as_str().unwrap();
    let response = app
        .http
        .get(app.url(&format!("/background-task/{task_id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
}

#[tokio::test]
async fn event_type_aggregate_lists_each_applications_subscriptions() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let (shop, blog) = scene(&app, &receiver).await;
    let empty = new_app(&app, "empty").await;

    let (status, started) = app
        .request(Method::PUT, "/stats/usage/event-types", None)
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["task"], "event-type.aggregate");
    let task = finished_task(&app, started["id"].as_str().unwrap()).await;
    let rows = &task["data"]["event_types"];
    assert_eq!(rows.as_array().unwrap().len(), 3, "{task}");
    assert_eq!(
        row(rows, &shop),
        &json!({
            "appId": shop,
            "explicitlySubscribedEventTypes": ["invoice.paid", "user.created"],
            "hasCatchAllEndpoint": true,
        })
    );
    assert_eq!(
        row(rows, &blog)["explicitlySubscribedEventTypes"],
        json!(["post.published"])
    );
    assert_eq!(row(rows, &blog)["hasCatchAllEndpoint"], false);
    assert_eq!(
        row(rows, &empty),
        &json!({"appId": empty, "explicitlySubscribedEventTypes": [], "hasCatchAllEndpoint": false})
    );
    // Listed without their rows, by kind.
    let (_, listed) = app.get("/background-task?task=event-type.aggregate").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
}
