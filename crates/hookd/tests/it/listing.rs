//! Reading back: message and attempt filters, lookups by eventId, scheduled delivery.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Receiver, Reply, TestApp};

const WAIT: Duration = Duration::from_secs(15);

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn attempts_filter_by_status_code_class_event_type_channel_and_tag() {
    let app = TestApp::spawn_with(|config| config.retry_schedule = "".parse().unwrap()).await;
    let receiver = Receiver::start(vec![Reply::status(500)]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let failed = app.send_message(&app_id, json!({})).await;
    receiver.wait_for(1, WAIT).await;
    let (status, body) = app
        .post(
            &format!("/app/{app_id}/msg"),
            json!({"eventType": "user.created", "payload": {}, "channels": ["eu"], "tags": ["vip"]}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let tagged = body["id"].as_str().unwrap().to_owned();
    app.wait_for_attempts(&app_id, &tagged, WAIT, |attempts| attempts.len() == 1)
        .await;
    app.wait_for_attempts(&app_id, &failed, WAIT, |attempts| attempts.len() == 1)
        .await;

    let by_endpoint = format!("/app/{app_id}/attempt/endpoint/{endpoint_id}");
    let msg_ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|attempt| attempt["msgId"].as_str().unwrap().to_owned())
            .collect()
    };
    for (query, expected) in [
        ("", vec![tagged.clone(), failed.clone()]),
        ("?status_code_class=500", vec![failed.clone()]),
        ("?status_code_class=200", vec![tagged.clone()]),
        ("?status=2", vec![failed.clone()]),
        ("?event_types=user.created", vec![tagged.clone()]),
        ("?event_types=invoice.paid", vec![failed.clone()]),
        ("?channel=eu", vec![tagged.clone()]),
        ("?tag=vip", vec![tagged.clone()]),
        ("?tag=nobody", vec![]),
    ] {
        let (status, page) = app.get(&format!("{by_endpoint}{query}")).await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(msg_ids(&page), expected, "{query}");
    }
    let (status, body) = app
        .get(&format!("{by_endpoint}?status_code_class=250"))
        .await;
    assert_eq!(status, 422, "{body}");

    let (_, messages) = app.get(&format!("/app/{app_id}/msg?tag=vip")).await;
    assert_eq!(ids(&messages), vec![tagged]);
}

#[tokio::test]
async fn a_message_can_be_read_by_its_event_id() {
    let app = TestApp::spawn().await;
    let (_, created) = app.post("/app", json!({"name": "lookup"})).await;
    let app_id = created["id"].as_str().unwrap();
    let (status, message) = app
        .post(
            &format!("/app/{app_id}/msg"),
            json!({"eventType": "a.b", "payload": {"k": 1}, "eventId": "order-77"}),
        )
        .await;
    assert_eq!(status, 202, "{message}");
    let (status, found) = app.get(&format!("/app/{app_id}/msg/order-77")).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["id"], message["id"]);
    assert_eq!(found["eventId"], "order-77");
}

#[tokio::test]
async fn deliver_at_holds_delivery_until_its_time() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, _) = app.app_with_endpoint(&receiver.url).await;
    let deliver_at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let (status, message) = app
        .post(
            &format!("/app/{app_id}/msg"),
            json!({"eventType": "a.b", "payload": {}, "deliverAt": deliver_at.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, 202, "{message}");
    assert!(message["deliverAt"].is_string(), "{message}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(receiver.received().is_empty(), "delivered before deliverAt");
    receiver.wait_for(1, WAIT).await;
    assert!(chrono::Utc::now() >= deliver_at);
}

#[tokio::test]
async fn records_read_back_exactly_as_created() {
    let app = TestApp::spawn().await;
    let (status, created) = app
        .post(
            "/app",
            json!({"name": "round trip", "uid": "round-trip", "metadata": {"k": "v"}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, read) = app.get("/app/round-trip").await;
    assert_eq!(status, 200);
    assert_eq!(read, created);
}
